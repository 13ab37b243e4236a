export { OpcuaError, OpcuaConnectionError, OpcuaBadCredentialsError, OpcuaIdentityRejectedError, OpcuaServerCertificateUntrustedError, OpcuaClientCertificateRejectedError, OpcuaRequestError } from './errors.js';
export { OpcuaSimulator, buildingNodeId, BUILDING_NAMESPACE_INDEX, SIMULATOR_SECURITY_POLICIES, type OpcuaSimulatorOptions, type SimulatedUser } from './simulator.js';
export { buildingVariables, buildingLoad, type BuildingVariable, type SimulatedValue } from './building.js';
export { readCertificateFile } from './certificates.js';
