import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { ModbusSimulator } from '@citypilot/protocol-modbus';
import { parseGatewayConfig } from './config/config.js';
import { Gateway, type GatewayStatus } from './gateway.js';
import { PluginRegistry } from './config/registry.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

interface Health {
  code: number;
  status: string;
  nats: string;
  outbox: number;
  reason?: string;
}

async function health(gateway: Gateway): Promise<Health> {
  const response = await fetch(`${gateway.url}/healthz`);
  return { code: response.status, ...((await response.json()) as Omit<Health, 'code'>) };
}

describe('/healthz while nothing can be forwarded', () => {
  const suffix = randomBytes(4).toString('hex');
  const prefix = `cptest.health.${suffix}`;
  const stream = `CPTEST_HEALTH_${suffix}`;
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-health-'));
  const simulator = new ModbusSimulator({ points: [{ table: 'holding', address: 0, type: 'uint16', behaviour: { kind: 'constant', value: 7 } }] });
  const gateways: Gateway[] = [];
  let modbusPort = 0;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    modbusPort = (await simulator.start()).port;
    nc = await connect({ servers: inject('natsUrl') });
    jsm = await jetstreamManager(nc);
  });
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop(0)));
    await simulator.stop();
    await jsm?.streams.delete(stream).catch(() => undefined);
    await nc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(id: string, natsUrl: string, stallAfter: string): Promise<Gateway> {
    const config = parseGatewayConfig(
      `gateway: { id: ${id} }\nhub: { natsUrl: "${natsUrl}", subjectPrefix: ${prefix}, batchMaxDelay: 200ms }\n` +
        `outbox: { stallAfter: ${stallAfter} }\nstatus: { port: 0 }\ndataDir: data-${id}\ndevices:\n` +
        `  - id: meter\n    plugin: modbus\n    interval: 1s\n    connection: { host: 127.0.0.1, port: ${modbusPort} }\n` +
        `    points:\n      - { id: value, address: { table: holding, address: 0 } }\n`,
      join(dir, `${id}.yaml`),
      new PluginRegistry(),
    );
    const gateway = await Gateway.start({ config, logger: quiet });
    gateways.push(gateway);
    return gateway;
  }

  it('says degraded, with the reason, once samples have waited longer than outbox.stallAfter, and ok again once they are forwarded', async () => {
    // Connected to NATS, but no stream takes the gateway's subject: every publish fails.
    const noStream = await start('no-stream', inject('natsUrl'), '2s');
    // The same, with a bound no test waits for: a hiccup shorter than the bound is not reported.
    const patient = await start('patient', inject('natsUrl'), '1h');
    // No NATS server at all: degraded already, and now saying why.
    const noServer = await start('no-server', 'nats://127.0.0.1:1', '2s');

    // Wait for the stall itself: a 503 alone may still be the first moments, NATS connecting.
    await expect.poll(async () => (await health(noStream)).reason ?? '', { timeout: 30_000, interval: 250 }).toMatch(/^forwarding stalled/);
    const stalled = await health(noStream);
    expect(stalled.code).toBe(503);
    expect(stalled).toMatchObject({ status: 'degraded', nats: 'connected' });
    expect(stalled.outbox).toBeGreaterThan(0);
    expect(stalled.reason).toMatch(
      /^forwarding stalled: nothing forwarded to the hub since \S+ \(\d+(\.\d)? s\); the outbox holds \d+ samples?; last error: .+/,
    );
    const status = (await (await fetch(`${noStream.url}/api/status`)).json()) as GatewayStatus;
    expect(status.outbox.stalled).toMatch(/^nothing forwarded to the hub since/);
    expect(await (await fetch(noStream.url)).text()).toMatch(/Forwarding stalled<\/th><td class="bad">nothing forwarded/);

    // The patient gateway holds samples it could not forward, and still says ok.
    const waiting = (await (await fetch(`${patient.url}/api/status`)).json()) as GatewayStatus;
    expect(waiting.outbox.depth).toBeGreaterThan(0);
    expect(waiting.outbox.lastError).not.toBeNull();
    expect(await health(patient)).toMatchObject({ code: 200, status: 'ok' });

    await expect.poll(async () => (await health(noServer)).reason ?? '', { timeout: 30_000, interval: 250 }).toMatch(/forwarding stalled: nothing forwarded/);
    expect(await health(noServer)).toMatchObject({
      code: 503,
      status: 'degraded',
      nats: 'connecting',
      reason: expect.stringMatching(/^NATS connecting: .+; forwarding stalled: /),
    });

    // The hub's stream appears: what waited is forwarded, and the gateway is healthy again.
    await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`] });
    await expect.poll(async () => (await health(noStream)).code, { timeout: 30_000, interval: 250 }).toBe(200);
    expect(await health(noStream)).toEqual({ code: 200, status: 'ok', nats: 'connected', outbox: expect.any(Number) });
  });
});
