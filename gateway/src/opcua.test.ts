import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureClientCertificate } from '@citypilot/protocol-opcua';
import { DataType, OpcuaSimulator, SimulatorProcess, buildingNodeId, waitUntil } from '@citypilot/protocol-opcua/testing';
import type { Sample } from '@citypilot/sdk';
import { parseGatewayConfig } from './config/config.js';
import { Gateway, type GatewayStatus } from './gateway.js';
import { PluginRegistry } from './config/registry.js';
import { createWriteToken } from './write/write-tokens.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('a gateway subscribed to an OPC UA server that restarts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-gateway-opcua-'));
  // In a process of its own: its work (a start builds the address space) must not delay the
  // gateway's timers, which share this test's event loop.
  const simulator = new SimulatorProcess({ pkiDir: join(dir, 'server-pki'), tickMs: 200 });
  let gateway: Gateway | undefined;
  afterAll(async () => {
    await gateway?.stop(0);
    await simulator.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('marks the points bad while it is down, resumes the same monitored items after, and keeps one sample per slot', async () => {
    const { endpointUrl } = await simulator.start();
    // Reads that fail while the server is down fail at once (the driver knows the connection
    // is lost), well within the interval.
    const config = parseGatewayConfig(
      [
        'gateway:\n  id: test',
        'hub: { natsUrl: nats://127.0.0.1:1 }',
        'status: { port: 0 }',
        `dataDir: ${join(dir, 'data')}`,
        'devices:',
        '  - id: bms',
        '    plugin: opcua',
        '    interval: 1s',
        '    timeout: 800ms',
        `    connection: { endpointUrl: "${endpointUrl}", securityMode: None, publishingInterval: 200ms }`,
        '    points:',
        `      - { id: setpoint, unit: °C, address: { nodeId: "${buildingNodeId('AHU1.SupplyAirSetpoint')}" } }`,
        `      - { id: energy, unit: kWh, address: { nodeId: "${buildingNodeId('Meters.Main.Energy')}" } }`,
        '',
      ].join('\n'),
      join(dir, 'gateway.yaml'),
      new PluginRegistry(),
    );
    gateway = await Gateway.start({ config, logger: quiet });
    const samples: Sample[] = [];
    gateway.on('samples', (s) => samples.push(...s));
    const monitored = new Map([
      [buildingNodeId('AHU1.SupplyAirSetpoint'), 1],
      [buildingNodeId('Meters.Main.Energy'), 1],
    ]);

    await waitUntil('good samples of both points', () =>
      ['bms.setpoint', 'bms.energy'].every((p) => samples.some((s) => s.point === p && s.quality === 'good')),
    );
    await expect.poll(() => simulator.monitoredItems(), { timeout: 30_000 }).toEqual(monitored);

    await simulator.stop();
    await waitUntil('bad samples while the server is down', () => samples.filter((s) => s.point === 'bms.setpoint' && s.quality === 'bad').length >= 2, 30_000);
    const downFrom = samples.length;
    await simulator.start();
    await simulator.set('AHU1.SupplyAirSetpoint', 23);
    await waitUntil(
      'the setpoint written after the restart',
      () => samples.slice(downFrom).some((s) => s.point === 'bms.setpoint' && s.quality === 'good' && s.value === 23),
      60_000,
    );
    await waitUntil('the energy after the restart', () => samples.slice(downFrom).some((s) => s.point === 'bms.energy' && s.quality === 'good'), 60_000);
    // node-opcua restored the subscription: the same items, not a second set.
    await expect.poll(() => simulator.monitoredItems(), { timeout: 30_000 }).toEqual(monitored);

    const bad = samples.filter((s) => s.quality === 'bad');
    expect(bad.every((s) => /lost|reconnect|cannot|refused|ECONNREFUSED|closed/i.test(s.reason ?? ''))).toBe(true);
    // Values seen after the restart are the server's new ones; nothing from before the outage.
    const after = samples.slice(downFrom).filter((s) => s.point === 'bms.setpoint' && s.quality === 'good');
    expect(after.at(-1)!.value).toBe(23);
    // One sample per slot; a slot without one is a tick the core skipped (and counted) because
    // the read before was still running (the first one connects and subscribes, and this
    // machine is shared), never a read lost by the driver.
    const status = gateway.status();
    const snapshot = [...samples];
    const skipped = status.devices.find((d) => d.id === 'bms')!.skipped;
    for (const point of ['bms.setpoint', 'bms.energy']) {
      const times = snapshot.filter((s) => s.point === point).map((s) => s.time);
      expect(new Set(times).size, `${point}: one sample per slot`).toBe(times.length);
      const gaps = times.slice(1).map((t, i) => t - times[i]!);
      const missing = gaps.reduce((n, g) => n + g / 1000 - 1, 0);
      expect(
        gaps.every((g) => g > 0 && g % 1000 === 0),
        `${point}: gaps ${gaps.join(', ')}`,
      ).toBe(true);
      expect(missing, `${point}: slots without a sample (gaps ${gaps.join(', ')}), skipped ticks ${skipped}`).toBeLessThanOrEqual(skipped);
    }
  });
});

describe('a gateway subscribed to a value that changes every second', () => {
  // Made when the test runs, not when it is collected (a filtered run skips the cleanup).
  let dir = '';
  let simulator: SimulatorProcess | undefined;
  let gateway: Gateway | undefined;
  afterAll(async () => {
    await gateway?.stop(0);
    await simulator?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('stores at each slot the value the server had at the slot, not the one of an interval before', async () => {
    dir = mkdtempSync(join(tmpdir(), 'citypilot-gateway-opcua-fresh-'));
    // Clock.Seconds is the server's whole seconds since the epoch: its value at a slot is known.
    simulator = new SimulatorProcess({ pkiDir: join(dir, 'server-pki'), clockVariable: true });
    const { endpointUrl } = await simulator.start();
    // Our certificate made beforehand: the first read connects and subscribes within the slot.
    await ensureClientCertificate(join(dir, 'data', 'plugins', 'opcua', 'pki'));
    const config = parseGatewayConfig(
      [
        'gateway:\n  id: test',
        'hub: { natsUrl: nats://127.0.0.1:1 }',
        'status: { port: 0 }',
        `dataDir: ${join(dir, 'data')}`,
        'devices:',
        '  - id: bms',
        '    plugin: opcua',
        '    interval: 2s',
        `    connection: { endpointUrl: "${endpointUrl}", securityMode: None }`,
        '    points:',
        `      - { id: seconds, unit: s, address: { nodeId: "${buildingNodeId('Clock.Seconds')}" } }`,
        '',
      ].join('\n'),
      join(dir, 'gateway.yaml'),
      new PluginRegistry(),
    );
    gateway = await Gateway.start({ config, logger: quiet });
    const samples: Sample[] = [];
    gateway.on('samples', (s) => samples.push(...s));
    // The first slot is read from the server while the subscription starts (how late that read
    // answers depends on the machine's load, not on sampling); the next ones are answered from
    // its notifications, which are what this judges.
    await waitUntil('six good samples', () => samples.filter((s) => s.quality === 'good').length >= 6, 60_000);
    const good = samples.filter((s) => s.quality === 'good').slice(1, 6);
    // The server's value at slot T is T's whole seconds; a notification takes up to a sampling
    // and a publishing interval (200 ms each here) to arrive, and a late read on a busy machine
    // may see the next second: within one step of it. Sampled at the point's 2 s interval, as
    // before, each value was that of the slot before (2 steps behind).
    const behind = good.map((s) => Math.floor(s.time / 1000) - (s.value as number));
    expect(
      behind.every((b) => b >= -1 && b <= 1),
      `seconds behind the slot: ${behind.join(', ')}`,
    ).toBe(true);
    // The notification's source time, for a technician: when the server sampled the value.
    const status = gateway.status().points.find((p) => p.point === 'bms.seconds')!;
    expect(status.quality).toBe('good');
    expect(Math.abs(status.sourceTime! - status.time)).toBeLessThan(3000);
  });
});

describe('writing OPC UA nodes through the gateway', () => {
  // Made when the test runs, not when it is collected (a filtered run skips the cleanup).
  let dir = '';
  // A writable node of each type the gateway writes, each holding a value a refused write must leave.
  const types: [string, DataType, unknown][] = [
    ['SByte', DataType.SByte, 1],
    ['Byte', DataType.Byte, 1],
    ['Int16', DataType.Int16, 1],
    ['UInt16', DataType.UInt16, 1],
    ['Int32', DataType.Int32, 1],
    ['UInt32', DataType.UInt32, 1],
    ['Int64', DataType.Int64, [0, 1]],
    ['UInt64', DataType.UInt64, [0, 1]],
    ['Float', DataType.Float, 1],
    ['Double', DataType.Double, 1],
    ['Boolean', DataType.Boolean, false],
    ['String', DataType.String, 'OK'],
    ['DateTime', DataType.DateTime, new Date(0)],
    ['LocalizedText', DataType.LocalizedText, { text: 'Marche' }],
  ];
  let running: OpcuaSimulator | undefined;
  let gateway: Gateway | undefined;
  let token = '';
  afterAll(async () => {
    await gateway?.stop(0);
    await running?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const post = (id: string, value: unknown) =>
    fetch(`${gateway!.url}/api/points/${id}/write`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ value }),
    });

  it("refuses with 409 and the reason a value the node's type cannot hold, before the server sees it, and writes those it can", async () => {
    dir = mkdtempSync(join(tmpdir(), 'citypilot-gateway-opcua-write-'));
    const simulator = new OpcuaSimulator({
      pkiDir: join(dir, 'server-pki'),
      extraVariables: types.map(([name, dataType, initial]) => ({ path: `Test.${name}`, dataType, writable: true, initial: () => initial as never })),
    });
    running = simulator;
    const { endpointUrl } = await simulator.start();
    const kind = (name: string) => (name === 'Boolean' ? 'boolean' : ['String', 'DateTime', 'LocalizedText'].includes(name) ? 'string' : 'number');
    const config = parseGatewayConfig(
      [
        'gateway:\n  id: test',
        'hub: { natsUrl: nats://127.0.0.1:1 }',
        'status: { port: 0, allowWrites: true }',
        `dataDir: ${join(dir, 'data')}`,
        'devices:',
        '  - id: bms',
        '    plugin: opcua',
        '    interval: 2s',
        `    connection: { endpointUrl: "${endpointUrl}", securityMode: None }`,
        '    points:',
        // The points' ranges allow what the nodes' types do not: the type is the driver's to check.
        ...types.map(
          ([name]) =>
            `      - { id: ${name.toLowerCase()}, kind: ${kind(name)}, writable: true, ${kind(name) === 'number' ? 'min: -1e30, max: 1e40, ' : ''}address: { nodeId: "${buildingNodeId(`Test.${name}`)}" } }`,
        ),
        // Nodes whose type is not the point's kind: a number to a Boolean node, a string to an Int32 one.
        `      - { id: boolean-as-number, writable: true, min: -10, max: 10, address: { nodeId: "${buildingNodeId('Test.Boolean')}" } }`,
        `      - { id: int32-as-string, kind: string, writable: true, address: { nodeId: "${buildingNodeId('Test.Int32')}" } }`,
        `      - { id: string-as-number, writable: true, min: -10, max: 100, address: { nodeId: "${buildingNodeId('Test.String')}" } }`,
        // Writable in the configuration, read-only on the server.
        `      - { id: fan-speed, writable: true, min: 0, max: 100, address: { nodeId: "${buildingNodeId('AHU1.FanSpeed')}" } }`,
        '',
      ].join('\n'),
      join(dir, 'gateway.yaml'),
      new PluginRegistry(),
    );
    gateway = await Gateway.start({ config, logger: quiet });
    token = createWriteToken(config.dataDir, 'alice');
    // Subscribed and notified: a write's read back must ask the server, not serve the value notified before it.
    const notified = async () =>
      ((await (await fetch(`${gateway!.url}/api/status`)).json()) as GatewayStatus).points.find((p) => p.point === 'bms.float')?.sourceTime;
    await expect.poll(notified, { timeout: 15_000 }).toBeDefined();
    const node = (name: string) => buildingNodeId(`Test.${name}`);
    const refusals: [string, unknown, string][] = [
      ['int32', 2.5, `2.5 is not an integer: node ${node('Int32')} is Int32`],
      ['int16', 40000, '40000 does not fit Int16 (an integer from -32768 to 32767)'],
      ['sbyte', 128, '128 does not fit SByte (an integer from -128 to 127)'],
      ['sbyte', -129, '-129 does not fit SByte (an integer from -128 to 127)'],
      ['byte', -1, '-1 does not fit Byte (an integer from 0 to 255)'],
      ['byte', 256, '256 does not fit Byte (an integer from 0 to 255)'],
      ['int16', -32769, '-32769 does not fit Int16 (an integer from -32768 to 32767)'],
      ['uint16', 65536, '65536 does not fit UInt16 (an integer from 0 to 65535)'],
      ['uint16', 0.5, `0.5 is not an integer: node ${node('UInt16')} is UInt16`],
      ['int32', 2147483648, '2147483648 does not fit Int32 (an integer from -2147483648 to 2147483647)'],
      ['uint32', -1, '-1 does not fit UInt32 (an integer from 0 to 4294967295)'],
      ['uint32', 4294967296, '4294967296 does not fit UInt32 (an integer from 0 to 4294967295)'],
      ['int64', 1.5, `1.5 is not an integer: node ${node('Int64')} is Int64`],
      ['int64', 2 ** 60, `${2 ** 60} does not fit Int64 (an integer from -(2^53 - 1) to 2^53 - 1, as the gateway writes it exactly)`],
      ['uint64', -1, '-1 does not fit UInt64 (an integer from 0 to 2^53 - 1, as the gateway writes it exactly)'],
      ['float', 1e39, '1e+39 does not fit Float (a 32-bit float, at most ±3.4028234663852886e+38)'],
      ['boolean-as-number', 1, `1 is not a Boolean: node ${node('Boolean')} is Boolean (true or false)`],
      ['int32-as-string', '12', `"12" is not a number: node ${node('Int32')} is Int32`],
      ['string-as-number', 42, `42 is not a string: node ${node('String')} is String`],
    ];
    for (const [point, value, reason] of refusals) {
      const before = simulator.get(`Test.${types.find(([n]) => n.toLowerCase() === point.split('-')[0])![0]}`);
      const response = await post(`bms.${point}`, value);
      const body = (await response.json()) as { error: string; code: string };
      // The plugin's reason, said of the point by the core (WRITE_DOES_NOT_FIT).
      expect({ point, value, status: response.status, code: body.code, error: body.error }).toEqual({
        point,
        value,
        status: 409,
        code: 'WRITE_DOES_NOT_FIT',
        error: `bms.${point} cannot take ${JSON.stringify(value)}: ${reason}`,
      });
      expect(simulator.get(`Test.${types.find(([n]) => n.toLowerCase() === point.split('-')[0])![0]}`), `${point} unchanged`).toEqual(before);
    }

    // What fits is written, and read back as the node holds it.
    const writes: [string, unknown, unknown][] = [
      ['sbyte', -128, -128],
      ['byte', 255, 255],
      ['int16', -32768, -32768],
      ['uint16', 65535, 65535],
      ['int32', -2147483648, -2147483648],
      ['uint32', 4294967295, 4294967295],
      ['int64', -2, -2],
      ['uint64', 2 ** 40, 2 ** 40],
      ['float', 21.3, 21.3],
      ['double', 0.1, 0.1],
      ['boolean', true, true],
      ['string', 'Hors service', 'Hors service'],
      ['datetime', '2026-03-29T01:30:00.000Z', '2026-03-29T01:30:00.000Z'],
      ['localizedtext', 'Arrêt', 'Arrêt'],
    ];
    for (const [point, value, readBack] of writes) {
      const response = await post(`bms.${point}`, value);
      expect({ point, status: response.status, body: await response.json() }).toEqual({
        point,
        status: 200,
        body: { point: `bms.${point}`, asked: value, value: readBack, readBack: { value: readBack, quality: 'good' } },
      });
    }

    // The server's refusal: its status and a sentence, not node-opcua's text.
    const refused = await post('bms.fan-speed', 50);
    expect(refused.status).toBe(502);
    expect(((await refused.json()) as { error: string }).error).toBe(
      `the server refused to write ${buildingNodeId('AHU1.FanSpeed')}: BadNotWritable (the node is read-only on the server)`,
    );
  });
});

describe("node-opcua's own messages in a running gateway", () => {
  // Made when the test runs, not when it is collected (a filtered run skips the cleanup).
  let dir = '';
  let running: SimulatorProcess | undefined;
  afterAll(async () => {
    await running?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('are at debug level only, across a start and a reconnection; the loss of the connection is logged as ours', async () => {
    dir = mkdtempSync(join(tmpdir(), 'citypilot-gateway-opcua-log-'));
    const simulator = (running = new SimulatorProcess({ pkiDir: join(dir, 'server-pki'), tickMs: 500 }));
    const { endpointUrl } = await simulator.start();
    const file = join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      [
        'gateway: { id: test }',
        'hub: { natsUrl: nats://127.0.0.1:1 }',
        'status: { port: 0 }',
        'dataDir: data',
        'devices:',
        '  - id: bms',
        '    plugin: opcua',
        '    interval: 1s',
        `    connection: { endpointUrl: "${endpointUrl}", securityMode: None }`,
        '    points:',
        `      - { id: setpoint, unit: °C, address: { nodeId: "${buildingNodeId('AHU1.SupplyAirSetpoint')}" } }`,
        '',
      ].join('\n'),
    );
    // A real gateway process, as a technician runs it: node-opcua is loaded there, fresh.
    const cli = fileURLToPath(new URL('./cli.js', import.meta.url));
    const child = spawn(process.execPath, [cli, 'run', file], { env: { ...process.env, LOG_LEVEL: 'debug' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const lines = () =>
        stdout
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as { level: number; msg: string; source?: string });
      await expect.poll(() => simulator.monitoredItems(), { timeout: 60_000 }).toEqual(new Map([[buildingNodeId('AHU1.SupplyAirSetpoint'), 1]]));
      await simulator.stop();
      await waitUntil('the loss logged', () => lines().some((l) => l.msg === 'OPC UA connection lost; reconnecting'), 30_000);
      await simulator.start();
      // node-opcua recreates the subscription on the restarted server (reading its OperationLimits).
      await waitUntil('the connection back', () => lines().some((l) => /OPC UA connection back/.test(l.msg)), 60_000);
      await expect.poll(() => simulator.monitoredItems(), { timeout: 30_000 }).toEqual(new Map([[buildingNodeId('AHU1.SupplyAirSetpoint'), 1]]));
      // node-opcua's check of RSA PKCS#1 v1.5 warns seconds after it is loaded.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const fromLibrary = lines().filter((l) => l.source === 'node-opcua');
      expect(fromLibrary.length, 'node-opcua said something, at debug').toBeGreaterThan(0);
      expect(fromLibrary.filter((l) => l.level > 20).map((l) => l.msg)).toEqual([]);
      expect(
        lines()
          .filter((l) => l.level > 20 && /NODE-OPCUA|node-opcua|12165|security-revert|node version/i.test(l.msg))
          .map((l) => l.msg),
      ).toEqual([]);
      expect(stderr).toBe('');
      // What a technician acts on stays at warn: ours, in a sentence.
      expect(lines().find((l) => l.msg === 'OPC UA connection lost; reconnecting')!.level).toBe(40);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
