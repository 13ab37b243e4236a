export {
  OpcuaError,
  OpcuaConnectionError,
  OpcuaBadCredentialsError,
  OpcuaIdentityRejectedError,
  OpcuaServerCertificateUntrustedError,
  OpcuaClientCertificateRejectedError,
  OpcuaRequestError,
  OpcuaWriteRefusedError,
} from './errors.js';
export { writableValue, type OpcuaNodeType } from './write-values.js';
export {
  OpcuaSimulator,
  buildingNodeId,
  BUILDING_NAMESPACE_INDEX,
  SIMULATOR_SECURITY_POLICIES,
  type OpcuaSimulatorOptions,
  type SimulatedUser,
} from './simulator.js';
export { buildingVariables, type BuildingVariable, type SimulatedValue } from './building.js';
export { readCertificateFile } from './certificates.js';
export { routeOpcuaLibraryLogs, type OpcuaLibraryLogSink } from './logging.js';
export { certificateThumbprint, listServerCertificates, trustServerCertificate, type SeenCertificate } from './certificates.js';
export { OpcuaConnection } from './client.js';
export { MONITORED_ITEMS_PER_REQUEST } from './subscriptions.js';
export { clientCertificatePaths, discoverEndpoints, ensureClientCertificate } from './session.js';
export {
  OPCUA_SECURITY_MODES,
  type OpcuaConnectOptions,
  type OpcuaEndpoint,
  type OpcuaEngineeringUnits,
  type OpcuaIdentity,
  type OpcuaMonitoredItemRequest,
  type OpcuaSecurityMode,
  type OpcuaSecurityPolicy,
  type OpcuaSubscription,
  type OpcuaValue,
  type OpcuaVariable,
} from './client-types.js';
