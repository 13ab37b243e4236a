export { PluginPackageError, readPluginPackage, MAX_PACKAGE_JSON_BYTES, MAX_SCHEMA_BYTES, MAX_UNPACKED_BYTES } from './package-file.js';
export { PluginRepository, listPackages, packagesForGateway, type PublishedPackage, type PublishResult, type RepositoryOptions } from './repository.js';
export {
  PluginAssignmentStore,
  listAssignments,
  gatewayAssignments,
  type AssignmentChange,
  type AssignmentRow,
  type AssignmentStoreOptions,
} from './assignments.js';
export {
  Rollouts,
  PluginRolloutError,
  listRollouts,
  setPluginGroup,
  MAX_PROMOTE_AFTER_S,
  type ReportSource,
  type RolloutInfo,
  type RolloutState,
  type AssignRequest,
  type RolloutsOptions,
} from './rollouts.js';
export { pluginRoutes } from './routes.js';
export { runPluginCli, PLUGIN_USAGE, PLUGIN_KEY_FILE, PLUGIN_PUBLIC_KEY_FILE } from './command.js';
