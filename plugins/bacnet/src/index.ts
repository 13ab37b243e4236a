export { bacnetPlugin, createBacnetPlugin, confirmBound } from './plugin.js';
export { whoIsDestination } from './discover.js';
export { BacnetSockets, SocketConflictError, type SocketSettings, type SharedSocket } from './sockets.js';
export { toReading, convert, type ObjectStatus } from './values.js';
export {
  bacnetConnection,
  bacnetAddress,
  BACNET_OBJECT_TYPES,
  type BacnetObjectTypeName,
  type BacnetConnectionConfig,
  type BacnetAddressConfig,
} from './schema.js';
export {
  importEde,
  readEde,
  readStateTexts,
  decodeText,
  formatEdeProblem,
  EdeFileError,
  type EdeImport,
  type EdeImportOptions,
  type EdeFile,
  type EdeObject,
  type EdeDevice,
  type EdeProject,
  type EdeProblem,
} from './ede.js';
export {
  draftPoints,
  draftDevice,
  uniqueDeviceIds,
  suggestTags,
  idFromName,
  type BacnetObjectInfo,
  type BacnetDeviceInfo,
  type BacnetPointDraft,
} from './draft.js';
export { bacnetUnit, bacnetUnits, NO_UNITS, type BacnetUnit, type UnitQuantity } from './units.js';
export { objectTypeLabel, objectTypeNumber, pointObjectType, DEVICE_OBJECT_TYPE } from './object-types.js';
