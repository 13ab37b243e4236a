export {
  NODE_RED_SOURCE,
  NodeRedConfigSchema,
  VirtualPointSchema,
  RESERVED_SETTINGS,
  checkNodeRedConfig,
  virtualPointDefinitions,
  virtualPointId,
  type NodeRedConfig,
  type VirtualPointConfig,
} from './config.js';
export { SampleRefusedError, createBridge, type CityPilotBridge, type NodeRedLink } from './bridge.js';
export { NODES_DIR, NodeRedHost, NodeRedHostError, type NodeRedHostOptions } from './host.js';
