export { bacnetConnection, bacnetAddress, BACNET_OBJECT_TYPES, type BacnetObjectTypeName, type BacnetConnectionConfig, type BacnetAddressConfig } from './schema.js';
