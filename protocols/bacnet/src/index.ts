export * from './errors.js';
export * from './names.js';
export { BacnetSimulator, type BacnetSimulatorOptions, type BacnetSimulatorStats, type MaxApdu, type SegmentationSupport, type SimulatedCovSubscription, type SimulatorMisbehaviour } from './simulator.js';
export { buildingObjects, type SimulatedObjectSpec } from './building.js';
export { UdpTransport, peekApdu, BACNET_PORT, type PeekedApdu, type UdpTransportOptions } from './transport.js';
