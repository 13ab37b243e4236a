export { GatewayConfigSchema, GatewayConfigError, loadGatewayConfig, parseGatewayConfig, type GatewayConfig } from './config.js';
export { Gateway, type GatewayOptions, type GatewayStatus } from './gateway.js';
export { PluginRegistry, PluginRegistrationError, builtinPlugins } from './registry.js';
export { runGatewayCli, describeFailure, type CliIo } from './commands.js';
export { createLogger } from './logger.js';
export { runSimulateCli, SIMULATE_USAGE } from './simulate-command.js';
export { ProfileLibrary, type LoadedProfile } from './profiles.js';
export { WriteRefusedError } from './poller.js';
export { NatsCredentialsError, readNatsSeed, natsCredentialsOptions, createNatsUser, natsPublicKey } from './nats-credentials.js';
