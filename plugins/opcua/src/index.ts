export { opcuaConnection, opcuaAddress, type OpcuaConnectionConfig, type OpcuaAddressConfig } from './schema.js';
