// The hub's command ends and log: one home in the SDK for the gateway's, the hub's and the
// composed command's.
export { createLogger, describeFailure, printTable, processIo, type CliIo } from '@citypilot/sdk';
