export { GatewayConfigSchema, GatewayConfigError, loadGatewayConfig, parseGatewayConfig, type GatewayConfig } from './config/config.js';
export { gatewayConfigValidator } from './config/config-validator.js';
export { Gateway, pluginStateDir, type GatewayOptions, type GatewayStatus } from './gateway.js';
export { PluginRegistry, PluginRegistrationError, builtinPlugins, createBuiltinPlugins } from './config/registry.js';
export { runGatewayCli } from './commands/gateway-cli.js';
export { describeFailure, type CliIo } from './commands/io.js';
export { createLogger } from './logger.js';
export { runSimulateCli, SIMULATE_USAGE } from './commands/simulate-command.js';
export { ProfileLibrary, type LoadedProfile } from './config/profiles.js';
export { WriteRefusedError } from './pipeline/poller.js';
// Per-gateway credentials and the configuration-push format are the wire contract (@citypilot/wire); re-exported for older imports.
export { NatsCredentialsError, readNatsSeed, natsCredentialsOptions, createNatsUser, natsPublicKey } from '@citypilot/wire';
export { RESTART_ONLY, type ConfigStatus, type ConfigRefusal } from './config/live-config.js';
export { directGetSubject, type PushedConfig } from '@citypilot/wire';
export { fetchPushedConfig, readConfigState, CONFIG_STATE_FILE, type ConfigState } from './config/hub-config.js';
