// The commands' shared ends (where a command prints, a failure in one line): one home in the SDK
// for the gateway's, the hub's and the composed command's.
export { describeFailure, processIo, type CliIo } from '@citypilot/sdk';
