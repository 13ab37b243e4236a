export { opcuaConnection, opcuaAddress, type OpcuaConnectionConfig, type OpcuaAddressConfig } from './schema.js';
export { createOpcuaPlugin, opcuaPlugin, opcuaPkiDir } from './plugin.js';
export { MAX_ARRAY_ELEMENTS } from './discover.js';
