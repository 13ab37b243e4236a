// Test helpers: a real Modbus TCP device on loopback, and the demo city's register maps.
export { ModbusSimulator, type ModbusSimulatorOptions, type SimulatedPoint } from '../simulator.js';
export { demoBuildings } from '../demo-buildings.js';
