/** Helpers for tests of code that talks to Modbus devices through this plugin. */
export { simulatedPoint, behaviourFor } from '../simulate.js';
