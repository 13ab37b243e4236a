export { DATA_TYPES, WORD_ORDERS, decodeRegisters, encodeValue, registerCount, type DataType, type WordOrder } from './codec.js';
export { ModbusError, ModbusConnectionError, ModbusExceptionError, ModbusTimeoutError } from './errors.js';
export { ModbusTcpClient, type BitTable, type ModbusTcpClientOptions, type RegisterTable } from './client.js';
export { planReads, type PlanLimits, type ReadItem, type ReadRequest, type Table } from './planner.js';
export { ModbusSimulator, loadShape, type ModbusSimulatorOptions, type SimulatedBehaviour, type SimulatedPoint } from './simulator.js';
export { demoBuildings, type DemoBuilding, type DemoPoint } from './demo-buildings.js';
