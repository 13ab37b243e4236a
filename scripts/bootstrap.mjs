#!/usr/bin/env node
// Installs what `npm start` and `npm test` need on a fresh clone, and nothing when it is all
// there: the npm dependencies (again whenever package-lock.json changed) and a build of the
// workspace. Services (PostgreSQL, NATS) are found or started later, by the code that uses them.
// Plain JavaScript with no dependency, because it runs before any dependency is installed.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [major] = process.versions.node.split('.').map(Number);
if (major < 20) {
  console.error(`CityPilot needs Node.js 20 or later; this is ${process.version}.`);
  process.exit(1);
}

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`\n${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal}).`);
    process.exit(result.status ?? 1);
  }
}

const lock = join(root, 'package-lock.json');
const stamp = join(root, 'node_modules', '.citypilot-installed');
const wanted = createHash('sha256').update(readFileSync(lock)).digest('hex');
const installed = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : '';
if (installed !== wanted) {
  console.log('Installing npm dependencies (npm ci)…');
  run('npm', ['ci', '--no-audit', '--no-fund']);
  writeFileSync(stamp, wanted + '\n');
}

if (process.argv.includes('--build')) run('npx', ['tsc', '-b']);
