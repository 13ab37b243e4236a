// The hub's command ends and log: one home in the SDK for the gateway's, the hub's and the
// composed command's.
export { createLogger, describeFailure, processIo, type CliIo } from '@citypilot/sdk';
