export * from './errors.js';
export * from './names.js';
export {
  BacnetSimulator,
  type BacnetSimulatorOptions,
  type BacnetSimulatorStats,
  type MaxApdu,
  type SegmentationSupport,
  type SimulatedCovSubscription,
  type SimulatorMisbehaviour,
  type SimulatorRestartOptions,
} from './simulator.js';
export { buildingObjects, type SimulatedObjectSpec } from './building.js';
export { UdpTransport, peekApdu, BACNET_PORT, type PeekedApdu, type UdpTransportOptions } from './transport.js';
export { BacnetClient } from './client.js';
export {
  normalizeAddress,
  type BacnetClientOptions,
  type BacnetDevice,
  type BacnetDeviceInfo,
  type BacnetObjectInfo,
  type CovNotification,
  type CovSubscribeOptions,
  type CovSubscription,
  type IAm,
  type PointRead,
  type PointResult,
  type ReadMethod,
  type SegmentationName,
  type StatusFlagsValue,
  type TypedValue,
} from './client-types.js';
export { planReadPropertyMultiple, estimateValueSize, type PlannedRequest, type PlanOptions, type PropertyRef } from './planner.js';
