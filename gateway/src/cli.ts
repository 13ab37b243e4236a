#!/usr/bin/env node
// `citypilot-gateway`: the gateway's command line on its own, for edge machines that run no hub.
import { runGatewayCli } from './commands/gateway-cli.js';

process.exitCode = await runGatewayCli(process.argv.slice(2));
