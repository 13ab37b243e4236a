export { createModbusPlugin, modbusPlugin, type ModbusAddressConfig, type ModbusConnectionConfig } from './plugin.js';
