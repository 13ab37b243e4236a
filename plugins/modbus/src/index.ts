export { modbusPlugin } from './plugin.js';
