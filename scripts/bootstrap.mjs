#!/usr/bin/env node
// Installs what `npm start` and `npm test` need on a fresh clone, and nothing when it is all
// there: the npm dependencies (again whenever package-lock.json changed), a build of the
// workspace (--build), Debian's Chromium for the browser tests (--browser, when root). Services (PostgreSQL, NATS) are found or started later, by the code that uses them.
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

/** Runs `command`, up to `attempts` times (a registry's connection reset mid-download is worth another try). */
function run(command, args, attempts = 1) {
  for (let attempt = 1; ; attempt++) {
    const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
    if (result.status === 0) return;
    if (attempt < attempts) {
      console.error(`\n${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal}): trying again (${attempt + 1} of ${attempts}) in 10 s…`);
      spawnSync('sleep', ['10']);
      continue;
    }
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
  run('npm', ['ci', '--no-audit', '--no-fund'], 3);
  writeFileSync(stamp, wanted + '\n');
}

// The dashboard's tests, screenshots and benchmark drive Debian's Chromium (Playwright's own
// browser download cannot work where CityPilot is built). Installed when missing and we are root;
// otherwise those tests skip and say why.
const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
if (process.argv.includes('--browser') && !existsSync(chromium)) {
  if (process.getuid?.() === 0 && spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0) {
    console.log("Installing Debian's chromium package for the dashboard's browser tests (apt-get install chromium)…");
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    for (const args of [
      ['update', '-q'],
      ['install', '-y', '-q', '--no-install-recommends', 'chromium'],
    ]) {
      const result = spawnSync('apt-get', args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], env });
      if (result.status !== 0) {
        console.log(`apt-get ${args.join(' ')} failed (exit ${result.status}): the browser tests will skip and say why.`);
        break;
      }
    }
  } else {
    console.log(`No Chromium at ${chromium} and not root: the dashboard's browser tests will skip (install Debian's chromium, or set CHROMIUM_PATH).`);
  }
}

// The workspace's TypeScript, then the dashboard's bundle (hub/web, by Vite).
if (process.argv.includes('--build')) run('npm', ['run', 'build', '--silent']);
