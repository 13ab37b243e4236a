export { DATA_TYPES, WORD_ORDERS, decodeRegisters, encodeValue, registerCount, type DataType, type WordOrder } from './codec.js';
export { ModbusError, ModbusConnectionError, ModbusExceptionError, ModbusProtocolError, ModbusTimeoutError, exceptionName } from './errors.js';
export {
  createModbusClient,
  describeTransport,
  ModbusTcpClient,
  type ModbusClient,
  type ModbusClientOptions,
  type ModbusTcpClientOptions,
  type ModbusTransport,
  type SerialParity,
} from './client.js';
export { ModbusLinks, ModbusLinkConflictError } from './links.js';
export { planReads, replanRequest, splitRequest, type AddressRange, type PlanLimits, type PlanOptions, type ReadItem, type ReadRequest } from './planner.js';
export { TABLES, PROTOCOL_LIMITS, isBitTable, type BitTable, type RegisterTable, type Table } from './tables.js';
export {
  ModbusSimulator,
  SimulatedDevice,
  type ModbusSimulatorOptions,
  type SimulatedBehaviour,
  type SimulatedDeviceOptions,
  type SimulatedPoint,
} from './simulator.js';
export { ModbusRtuSimulator, type HeardRequest, type ModbusRtuSimulatorOptions } from './rtu-simulator.js';
export { demoBuildings, type DemoBuilding, type DemoPoint } from './demo-buildings.js';
