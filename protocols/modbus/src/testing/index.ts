export { ModbusSimulator, type SimulatedPoint } from '../simulator.js';
