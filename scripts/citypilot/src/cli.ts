#!/usr/bin/env node
// `citypilot`: one command line for the demo, the hub and the gateway.
import { runCli } from './commands.js';

process.exitCode = await runCli(process.argv.slice(2));
