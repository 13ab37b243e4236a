#!/usr/bin/env node
// `npm start`: installs what is missing, builds, and runs the demo city (`citypilot demo`).
// Plain JavaScript with no dependency, because it runs before any dependency is installed.
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bootstrap = spawnSync(process.execPath, [join(root, 'scripts', 'bootstrap.mjs'), '--build'], { cwd: root, stdio: 'inherit' });
if (bootstrap.status !== 0) process.exit(bootstrap.status ?? 1);

const demo = spawn(process.execPath, [join(root, 'scripts', 'citypilot', 'dist', 'cli.js'), 'demo', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
// Ctrl-C in a terminal reaches the demo directly; a signal sent to this process alone is passed on.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => demo.kill(signal));
demo.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
