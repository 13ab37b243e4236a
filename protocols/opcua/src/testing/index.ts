// Test helpers: a simulated building OPC UA server on loopback, and certificate stores that
// trust each other as a commissioning technician would have set them up.
export { OpcuaSimulator, buildingNodeId, type OpcuaSimulatorOptions, type SimulatedUser } from '../simulator.js';
export { trustEachOther, waitUntil } from './pki.js';
export { SimulatorProcess } from './simulator-client.js';
// What a test needs of node-opcua to give the simulator's variables a status or a type.
export { DataType, StatusCodes } from 'node-opcua-client';
