export { DATA_TYPES, WORD_ORDERS, decodeRegisters, encodeValue, registerCount, type DataType, type WordOrder } from './codec.js';
export { ModbusError, ModbusConnectionError, ModbusExceptionError, ModbusProtocolError, ModbusTimeoutError, exceptionName } from './errors.js';
export { ModbusTcpClient, type ModbusClient, type ModbusTcpClientOptions } from './client.js';
export { planReads, type PlanLimits, type ReadItem, type ReadRequest } from './planner.js';
export { TABLES, PROTOCOL_LIMITS, isBitTable, type BitTable, type RegisterTable, type Table } from './tables.js';
export { ModbusSimulator, loadShape, type ModbusSimulatorOptions, type SimulatedBehaviour, type SimulatedPoint } from './simulator.js';
export { demoBuildings, type DemoBuilding, type DemoPoint } from './demo-buildings.js';
