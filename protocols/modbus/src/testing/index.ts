// Test helpers: real Modbus devices on loopback (TCP) or on a serial line (RTU, a pty in tests),
// a pair of linked ptys, and the demo city's register maps.
export { ModbusSimulator, SimulatedDevice, type ModbusSimulatorOptions, type SimulatedPoint } from '../simulator.js';
export { ModbusRtuSimulator, type ModbusRtuSimulatorOptions } from '../rtu-simulator.js';
export { openPtyPair, socatMissing, type PtyPair } from './pty.js';
export { demoBuildings } from '../demo-buildings.js';
export { knownVectors, type KnownVector } from './vectors.js';
export { constantPoint } from './points.js';
