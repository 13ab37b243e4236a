import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModbusSimulator, type SimulatedPoint } from '@citypilot/protocol-modbus';
import type { Sample } from '@citypilot/sdk';
import { runGatewayCli } from '../commands/gateway-cli.js';
import { GatewayConfigError, parseGatewayConfig } from '../config/config.js';
import { Gateway } from '../gateway.js';
import { PluginRegistry } from '../config/registry.js';
import { createWriteToken, writeTokensFile } from './write-tokens.js';

const setpoint: SimulatedPoint = { table: 'holding', address: 10, type: 'int16', behaviour: { kind: 'constant', value: 190 } };
const unbounded: SimulatedPoint = { table: 'holding', address: 11, type: 'int16', behaviour: { kind: 'constant', value: 7 } };
const pump: SimulatedPoint = { table: 'coil', address: 0, type: 'bool', behaviour: { kind: 'constant', value: false } };
const temp: SimulatedPoint = { table: 'input', address: 0, type: 'int16', behaviour: { kind: 'constant', value: 201 } };
// A tank level in tenths of a percent (463 is 46.3 %), a float32 set-point, a plain int16.
const level: SimulatedPoint = { table: 'holding', address: 12, type: 'uint16', behaviour: { kind: 'constant', value: 463 } };
const flowSetpoint: SimulatedPoint = { table: 'holding', address: 20, type: 'float32', behaviour: { kind: 'constant', value: 21.3 } };
const counts: SimulatedPoint = { table: 'holding', address: 13, type: 'int16', behaviour: { kind: 'constant', value: 0 } };

/** A logger that keeps what it is given, as the gateway's structured log would hold it. */
function recordingLogger() {
  const lines: { level: string; obj: Record<string, unknown>; msg?: string }[] = [];
  const at = (level: string) => (obj: object, msg?: string) =>
    void lines.push({ level, obj: obj as Record<string, unknown>, ...(msg === undefined ? {} : { msg }) });
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

interface WriteLine {
  who: string | null;
  point: string;
  asked: unknown;
  value?: unknown;
  result: 'written' | 'refused';
  warning?: string;
  status: number;
  error?: string;
  readBack?: { value: unknown; quality: string };
}

describe('writing points through the gateway', () => {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-write-'));
  const simulator = new ModbusSimulator({ points: [setpoint, unbounded, pump, temp, level, flowSetpoint, counts] });
  const gateways: Gateway[] = [];
  let simulatorPort = 0;
  let logs: ReturnType<typeof recordingLogger>['lines'] = [];
  beforeAll(async () => {
    simulatorPort = (await simulator.start()).port;
  });
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop(0)));
    await simulator.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const yaml = (name: string, status: string) => `gateway: { id: plant-room }
hub: { natsUrl: nats://127.0.0.1:1 }
dataDir: data-${name}
status: ${status}
devices:
  - id: boiler
    plugin: modbus
    interval: 1s
    connection: { host: 127.0.0.1, port: ${simulatorPort} }
    points:
      - { id: setpoint, unit: °C, scale: 0.1, writable: true, min: 5, max: 30, address: { table: holding, address: 10, type: int16 } }
      - { id: unbounded, writable: true, address: { table: holding, address: 11, type: int16 } }
      - { id: pump, kind: boolean, writable: true, address: { table: coil, address: 0, type: bool } }
      - { id: temp, unit: °C, scale: 0.1, address: { table: input, address: 0, type: int16 } }
      - { id: level, unit: '%', scale: 0.1, writable: true, min: 0, max: 100, address: { table: holding, address: 12, type: uint16 } }
      - { id: supply, unit: m³/h, writable: true, min: 0, max: 100, address: { table: holding, address: 20, type: float32 } }
      - { id: counts, writable: true, min: -100000, max: 100000, address: { table: holding, address: 13, type: int16 } }
`;

  async function start(name: string, allowWrites: boolean) {
    const { logger, lines } = recordingLogger();
    logs = lines;
    const file = join(dir, `gateway-${name}.yaml`);
    writeFileSync(file, yaml(name, `{ port: 0, allowWrites: ${allowWrites} }`));
    const config = parseGatewayConfig(readFileSync(file, 'utf8'), file, new PluginRegistry());
    const gateway = await Gateway.start({ config, logger });
    gateways.push(gateway);
    const writes = () => lines.map((l) => l.obj.write as WriteLine | undefined).filter((w) => w !== undefined);
    return { gateway, writes, dataDir: config.dataDir };
  }

  const post = (gateway: Gateway, id: string, body: unknown, token?: string) =>
    fetch(`${gateway.url}/api/points/${id}/write`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('refuses a write without a token or with a token not its own, before the device sees it, and logs each attempt', async () => {
    const { gateway, writes, dataDir } = await start('auth', true);
    const none = await post(gateway, 'boiler.setpoint', { value: 21 });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await none.json()) as { error: string }).error).toMatch(/write token.*citypilot gateway write-token create/);
    expect((await post(gateway, 'boiler.setpoint', { value: 21 }, 'cpw_' + 'A'.repeat(43))).status).toBe(403);
    const basic = await fetch(`${gateway.url}/api/points/boiler.setpoint/write`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Basic YWxpY2U6c2VjcmV0' },
      body: '{"value":21}',
    });
    expect(basic.status).toBe(401);
    // A token of another gateway (its own data folder) is not one of this one's.
    const elsewhere = createWriteToken(join(dir, 'elsewhere'), 'alice');
    expect((await post(gateway, 'boiler.setpoint', { value: 21 }, elsewhere)).status).toBe(403);
    expect(simulator.get('holding', 10, 'int16')).toBe(190);

    // Revoked: refused from the next write on, without a restart.
    const token = createWriteToken(dataDir, 'bob');
    expect((await post(gateway, 'boiler.setpoint', { value: 20 }, token)).status).toBe(200);
    const io = { out: () => undefined, err: () => undefined };
    expect(await runGatewayCli(['write-token', 'revoke', join(dir, 'gateway-auth.yaml'), '--name', 'bob'], io)).toBe(0);
    expect((await post(gateway, 'boiler.setpoint', { value: 22 }, token)).status).toBe(403);
    expect(simulator.get('holding', 10, 'int16')).toBe(200);

    expect(writes()).toEqual([
      expect.objectContaining({ who: null, point: 'boiler.setpoint', asked: 21, result: 'refused', status: 401 }),
      expect.objectContaining({ who: null, result: 'refused', status: 403 }),
      expect.objectContaining({ who: null, result: 'refused', status: 401 }),
      expect.objectContaining({ who: null, result: 'refused', status: 403 }),
      expect.objectContaining({ who: 'bob', asked: 20, value: 20, result: 'written', status: 200, readBack: { value: 20, quality: 'good' } }),
      expect.objectContaining({ who: null, asked: 22, result: 'refused', status: 403 }),
    ]);
  });

  it('writes engineering values for a token holder, reads them back, logs who wrote what, and the next cycle reads them', async () => {
    const { gateway, writes, dataDir } = await start('ok', true);
    const token = createWriteToken(dataDir, 'alice');
    const samples: Sample[] = [];
    gateway.on('samples', (s) => samples.push(...s));

    const response = await post(gateway, 'boiler.setpoint', { value: 21.5 }, token);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ point: 'boiler.setpoint', value: 21.5, asked: 21.5, readBack: { value: 21.5, quality: 'good' } });
    // Scale 0.1: the device holds 215.
    expect(simulator.get('holding', 10, 'int16')).toBe(215);
    expect((await post(gateway, 'boiler.pump', { value: true }, token)).status).toBe(200);
    expect(simulator.get('coil', 0, 'bool')).toBe(true);
    expect(writes()).toEqual([
      expect.objectContaining({
        who: 'alice',
        point: 'boiler.setpoint',
        asked: 21.5,
        value: 21.5,
        result: 'written',
        readBack: { value: 21.5, quality: 'good' },
      }),
      expect.objectContaining({ who: 'alice', point: 'boiler.pump', asked: true, value: true, result: 'written', readBack: { value: true, quality: 'good' } }),
    ]);

    const after = Date.now();
    await expect.poll(() => samples.find((s) => s.point === 'boiler.setpoint' && s.time > after)?.value, { timeout: 5000 }).toBeCloseTo(21.5, 6);
    expect(samples.find((s) => s.point === 'boiler.pump' && s.time > after)?.value).toBe(true);
  });

  it('reads and writes numbers at the resolution of their source: a register of 463 at scale 0.1 is 46.3, a float32 of 21.3 is 21.3', async () => {
    const { gateway, writes, dataDir } = await start('precision', true);
    const token = createWriteToken(dataDir, 'alice');
    const samples: Sample[] = [];
    gateway.on('samples', (s) => samples.push(...s));
    await expect.poll(() => samples.some((s) => s.point === 'boiler.level'), { timeout: 5000 }).toBe(true);
    // Exactly, not 46.300000000000004 nor 21.299999237060547.
    expect(samples.find((s) => s.point === 'boiler.level')).toMatchObject({ value: 46.3, quality: 'good' });
    expect(samples.find((s) => s.point === 'boiler.supply')).toMatchObject({ value: 21.3, quality: 'good' });

    simulator.set('holding', 12, 0, 'uint16');
    const written = await post(gateway, 'boiler.level', { value: 46.3 }, token);
    expect(written.status).toBe(200);
    expect(simulator.get('holding', 12, 'uint16')).toBe(463);
    expect(await written.json()).toEqual({ point: 'boiler.level', value: 46.3, asked: 46.3, readBack: { value: 46.3, quality: 'good' } });
    // 46.35 % would be 463.5 in the register: refused, saying so, before the device sees it.
    const between = await post(gateway, 'boiler.level', { value: 46.35 }, token);
    expect(between.status).toBe(409);
    expect(await between.json()).toEqual({
      error: 'boiler.level cannot take 46.35 %: 46.35 % is 463.5 for the device (scale 0.1, offset 0): 463.5 does not fit uint16',
      code: 'WRITE_DOES_NOT_FIT',
    });
    expect(simulator.get('holding', 12, 'uint16')).toBe(463);
    expect(writes().map((w) => [w.asked, w.value, w.status])).toEqual([
      [46.3, 46.3, 200],
      [46.35, undefined, 409],
    ]);
  });

  it('answers and logs the value read back, and says when the device does not hold the value asked', async () => {
    const { gateway, writes, dataDir } = await start('read-back', true);
    const token = createWriteToken(dataDir, 'alice');
    // A float32 register holds about 7 digits: 21.3000001 is stored as the float32 of 21.3.
    const rounded = await post(gateway, 'boiler.supply', { value: 21.3000001 }, token);
    expect(rounded.status).toBe(200);
    expect(await rounded.json()).toEqual({
      point: 'boiler.supply',
      value: 21.3,
      asked: 21.3000001,
      readBack: { value: 21.3, quality: 'good' },
      warning: 'the device holds 21.3, not 21.3000001 as asked',
    });
    expect(writes().at(-1)).toMatchObject({ asked: 21.3000001, value: 21.3, result: 'written', warning: 'the device holds 21.3, not 21.3000001 as asked' });
    expect(logs.at(-1)).toMatchObject({ level: 'warn', msg: 'point written, but the device does not hold the value asked' });

    // A coil takes true and false, and 0 and 1 as the README says; the answer is what it holds.
    const one = await post(gateway, 'boiler.pump', { value: 1 }, token);
    expect(one.status).toBe(200);
    expect(simulator.get('coil', 0, 'bool')).toBe(true);
    expect(await one.json()).toEqual({ point: 'boiler.pump', value: true, asked: 1, readBack: { value: true, quality: 'good' } });
    expect(logs.at(-1)).toMatchObject({ level: 'info', msg: 'point written' });
    expect((await post(gateway, 'boiler.pump', { value: 0 }, token)).status).toBe(200);
    expect(simulator.get('coil', 0, 'bool')).toBe(false);

    // Every integer width: a value its register cannot hold is refused before the device sees it.
    for (const value of [40000, -32769, 2.5]) {
      const refused = await post(gateway, 'boiler.counts', { value }, token);
      expect(refused.status).toBe(409);
      expect(await refused.json()).toEqual({ error: `boiler.counts cannot take ${value}: ${value} does not fit int16`, code: 'WRITE_DOES_NOT_FIT' });
    }
    expect((await post(gateway, 'boiler.counts', { value: -32768 }, token)).status).toBe(200);
    expect(simulator.get('holding', 13, 'int16')).toBe(-32768);
  });

  it("refuses a number outside the point's range, or not finite, or a point without a range, before the device sees it", async () => {
    const { gateway, writes, dataDir } = await start('range', true);
    const token = createWriteToken(dataDir, 'alice');
    const before = simulator.get('holding', 10, 'int16');
    const huge = await post(gateway, 'boiler.setpoint', { value: 1e308 }, token);
    expect(huge.status).toBe(400);
    expect(await huge.json()).toEqual({ error: '1e+308 is outside the range of boiler.setpoint: 5 to 30 °C', code: 'WRITE_OUT_OF_RANGE' });
    expect((await post(gateway, 'boiler.setpoint', { value: 30.5 }, token)).status).toBe(400);
    expect((await post(gateway, 'boiler.setpoint', { value: 4.9 }, token)).status).toBe(400);
    // JSON has no Infinity, but 1e999 parses to it.
    const infinite = await post(gateway, 'boiler.setpoint', '{"value": 1e999}', token);
    expect(infinite.status).toBe(400);
    expect(((await infinite.json()) as { error: string }).error).toBe('boiler.setpoint takes a finite number, not Infinity');
    expect(simulator.get('holding', 10, 'int16')).toBe(before);
    // Without min and max, nothing says what the device may hold: not writable through the gateway.
    const unranged = await post(gateway, 'boiler.unbounded', { value: 8 }, token);
    expect(unranged.status).toBe(409);
    expect(await unranged.json()).toEqual({
      error: 'boiler.unbounded has no write range: set its min and max (in its unit) in the configuration to write it',
      code: 'WRITE_NO_RANGE',
    });
    expect(simulator.get('holding', 11, 'int16')).toBe(7);
    // The bounds themselves are allowed.
    expect((await post(gateway, 'boiler.setpoint', { value: 30 }, token)).status).toBe(200);
    expect(simulator.get('holding', 10, 'int16')).toBe(300);
    expect(writes().map((w) => [w.who, w.asked, w.status])).toEqual([
      ['alice', 1e308, 400],
      ['alice', 30.5, 400],
      ['alice', 4.9, 400],
      ['alice', Infinity, 400],
      ['alice', 8, 409],
      ['alice', 30, 200],
    ]);
  });

  it('refuses read-only and unknown points, values of the wrong kind and malformed bodies', async () => {
    const { gateway, dataDir } = await start('kinds', true);
    const token = createWriteToken(dataDir, 'alice');
    const refused = await post(gateway, 'boiler.temp', { value: 30 }, token);
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error: string }).error).toBe('boiler.temp is not writable (writable: false in the configuration)');
    expect((await post(gateway, 'boiler.flow', { value: 1 }, token)).status).toBe(404);
    const notBoolean = await post(gateway, 'boiler.pump', { value: 2 }, token);
    expect(notBoolean.status).toBe(409);
    expect(((await notBoolean.json()) as { error: string }).error).toBe('boiler.pump takes a boolean (true, false, 0 or 1), not 2');
    expect((await post(gateway, 'boiler.pump', { value: 'on' }, token)).status).toBe(409);
    expect((await post(gateway, 'boiler.setpoint', { level: 1 }, token)).status).toBe(400);
    expect((await post(gateway, 'boiler.setpoint', '{"value": ', token)).status).toBe(400);
    // Relinquishing (null) is for plugins that command by priority, not Modbus.
    const relinquish = await post(gateway, 'boiler.setpoint', { value: null }, token);
    expect(relinquish.status).toBe(409);
    expect(((await relinquish.json()) as { error: string }).error).toBe('the modbus plugin cannot relinquish a point (null): write a value instead');
  });

  it('refuses requests whose Host is not a name of the gateway (DNS rebinding)', async () => {
    const { gateway, dataDir } = await start('host', true);
    const token = createWriteToken(dataDir, 'alice');
    const { port } = new URL(gateway.url);
    const send = (host: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/api/points/boiler.setpoint/write',
            headers: { host, 'content-type': 'application/json', authorization: `Bearer ${token}` },
          },
          (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode!, body }));
          },
        );
        req.on('error', reject);
        req.end('{"value": 12}');
      });
    const before = simulator.get('holding', 10, 'int16');
    const rebound = await send(`attacker.example:${port}`);
    expect(rebound.status).toBe(421);
    expect(JSON.parse(rebound.body)).toMatchObject({ code: 'HOST_REFUSED', error: expect.stringMatching(/not a name of this gateway.*status\.hostnames/) });
    expect((await send(`localhost:${Number(port) + 1}`)).status).toBe(421);
    expect(simulator.get('holding', 10, 'int16')).toBe(before);
    expect((await send(`localhost:${port}`)).status).toBe(200);
    expect(simulator.get('holding', 10, 'int16')).toBe(120);
  });

  it('refuses every write unless the configuration allows writes', async () => {
    const { gateway, dataDir } = await start('off', false);
    const token = createWriteToken(dataDir, 'alice');
    const before = simulator.get('holding', 10, 'int16');
    const response = await post(gateway, 'boiler.setpoint', { value: 18 }, token);
    expect(response.status).toBe(403);
    expect(simulator.get('holding', 10, 'int16')).toBe(before);
  });
});

describe('write credentials in the configuration and the CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-write-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'gateway.yaml');
  const yaml = (status: string) => `gateway: { id: plant-room }
status: ${status}
devices:
  - id: boiler
    plugin: modbus
    connection: { host: 127.0.0.1 }
    points:
      - { id: setpoint, writable: true, min: 5, max: 30, address: { table: holding, address: 10, type: int16 } }
`;
  const capture = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) }, out, err };
  };

  it('validate refuses writes on a non-loopback address until a technician has a write token, and says where', async () => {
    writeFileSync(file, yaml('{ host: 0.0.0.0, allowWrites: true }'));
    const validate = capture();
    expect(await runGatewayCli(['validate', file], validate.io)).toBe(2);
    expect(validate.err.join('\n')).toMatch(
      /gateway\.yaml:2:\d+ status\.allowWrites: writes on a non-loopback address \(status\.host: 0\.0\.0\.0\) need write credentials.*citypilot gateway write-token create/,
    );
    // On loopback, or without writes, the same file is valid.
    expect(() => parseGatewayConfig(yaml('{ host: 127.0.0.1, allowWrites: true }'), file, new PluginRegistry())).not.toThrow();
    expect(() => parseGatewayConfig(yaml('{ host: 0.0.0.0, allowWrites: false }'), file, new PluginRegistry())).not.toThrow();

    // The token command reads only dataDir: it works while the file is refused.
    const create = capture();
    expect(await runGatewayCli(['write-token', 'create', file, '--name', 'alice'], create.io)).toBe(0);
    const [token] = create.out;
    expect(token).toMatch(/^cpw_[A-Za-z0-9_-]{43}$/);
    expect(create.err.join('\n')).toMatch(/not shown again/);
    // The gateway keeps the hash, never the secret.
    const stored = readFileSync(writeTokensFile(join(dir, 'data')), 'utf8');
    expect(stored).not.toContain(token!.slice(4));
    expect(JSON.parse(stored)).toEqual({ tokens: [{ name: 'alice', sha256: expect.stringMatching(/^[0-9a-f]{64}$/), createdAt: expect.any(String) }] });
    expect(await runGatewayCli(['validate', file], capture().io)).toBe(0);

    const again = capture();
    expect(await runGatewayCli(['write-token', 'create', file, '--name', 'alice'], again.io)).toBe(2);
    expect(again.err.join('\n')).toMatch(/alice has a write token already: revoke it first/);
    const list = capture();
    expect(await runGatewayCli(['write-token', 'list', file], list.io)).toBe(0);
    expect(list.out.join('\n')).toMatch(/^alice\tcreated /);
    expect(await runGatewayCli(['write-token', 'create', file, '--name', 'Not A Name'], capture().io)).toBe(2);
    expect(await runGatewayCli(['write-token', 'create', file], capture().io)).toBe(2);
    expect(await runGatewayCli(['write-token', 'revoke', file, '--name', 'alice'], capture().io)).toBe(0);
    expect(await runGatewayCli(['write-token', 'revoke', file, '--name', 'alice'], capture().io)).toBe(1);
    expect(await runGatewayCli(['validate', file], capture().io)).toBe(2);
  });

  it('refuses a range on a point that is not a number, and one upside down', () => {
    const bad = `gateway: { id: plant-room }
devices:
  - id: boiler
    plugin: modbus
    connection: { host: 127.0.0.1 }
    points:
      - { id: pump, kind: boolean, writable: true, min: 0, address: { table: coil, address: 0, type: bool } }
      - { id: setpoint, writable: true, min: 30, max: 5, address: { table: holding, address: 10, type: int16 } }
`;
    let error: unknown;
    try {
      parseGatewayConfig(bad, file, new PluginRegistry());
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(GatewayConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/devices\[0\]\.points\[0\]\.min: applies to number points, not to a boolean/);
    expect(message).toMatch(/devices\[0\]\.points\[1\]\.max: 5 is below min \(30\)/);
  });
});
