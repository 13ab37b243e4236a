import { EventEmitter } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseYaml, validate, type PointDefinition, type Sample } from '@citypilot/sdk';
import { NodeRedConfigSchema, checkNodeRedConfig, virtualPointDefinitions, type NodeRedConfig } from './config.js';
import { NodeRedHost, NodeRedHostError } from './host.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  msg: string | undefined;
}

/** The sample's nodeRed section, with a free port and the flows in `configDir`. */
function sampleConfig(configDir: string): NodeRedConfig {
  const source = parseYaml(readFileSync(join(packageDir, 'sample.yaml'), 'utf8'), 'sample.yaml');
  const result = validate(NodeRedConfigSchema, (source.data as { nodeRed: unknown }).nodeRed);
  if (!result.ok) throw new Error(source.describe(result.issues).join('\n'));
  return { ...result.value, port: 0, flowsFile: join(configDir, result.value.flowsFile) };
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, message: string, onRetry?: () => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(message);
    onRetry?.();
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The host with the real Node-RED runtime on a free loopback port, and a stand-in for the
 * gateway: its accepted samples are an event emitter the test drives, and its pipeline an
 * array. (The whole path, with a real gateway and hub, is hub/src/e2e-node-red.test.ts.)
 */
describe('Node-RED host', () => {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-node-red-'));
  const configDir = join(dir, 'config');
  const config = sampleConfig(configDir);
  const gatewaySamples = new EventEmitter<{ samples: [Sample[]] }>();
  const accepted: Sample[] = [];
  const refusedPoints: string[] = [];
  const log: LogEntry[] = [];
  const logger = Object.fromEntries(
    (['debug', 'info', 'warn', 'error'] as const).map((level) => [
      level,
      (fields: object, msg?: string) => void log.push({ level, fields: fields as Record<string, unknown>, msg }),
    ]),
  ) as Record<LogEntry['level'], (fields: object, msg?: string) => void>;
  const power: PointDefinition = {
    id: 'main-meter.power',
    name: 'Active power',
    unit: 'kW',
    kind: 'number',
    tags: ['elec', 'meter', 'power'],
    source: { plugin: 'modbus', device: 'main-meter', address: {} },
  };
  const link = {
    points: () => [power, ...virtualPointDefinitions(config)],
    subscribe: (listener: (samples: Sample[]) => void) => {
      gatewaySamples.on('samples', listener);
      return () => void gatewaySamples.off('samples', listener);
    },
    accept: (samples: Sample[]) => {
      accepted.push(...samples);
      gatewaySamples.emit('samples', samples);
    },
    refused: (point: string) => refusedPoints.push(point),
  };
  let host: NodeRedHost | undefined;
  let time = Date.UTC(2026, 0, 1);
  const powerSample = (value: number | null, quality: Sample['quality'] = 'good'): Sample => ({ point: power.id, time: (time += 1000), value, quality });

  const deploy = async (flows: unknown[]) => {
    const response = await fetch(`${host!.url}/flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify(flows),
    });
    expect(response.status, await response.text()).toBeLessThan(300);
  };

  beforeAll(async () => {
    host = await NodeRedHost.start({ config, userDir: join(dir, 'data', 'node-red'), owner: 'gateway test', link, logger });
  });
  afterAll(async () => {
    await host?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts its sample configuration', () => {
    expect(config.enabled).toBe(true);
    expect(checkNodeRedConfig(config)).toEqual([]);
  });

  it('derives points with a flow deployed through the admin API, and saves the flows next to the configuration', async () => {
    expect(host!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const flows = JSON.parse(readFileSync(join(packageDir, 'sample-flows.json'), 'utf8')) as unknown[];
    await deploy(flows);
    const saved = JSON.parse(readFileSync(config.flowsFile, 'utf8')) as { type: string }[];
    expect(saved.map((n) => n.type)).toEqual(expect.arrayContaining(['citypilot point in', 'change', 'citypilot point out']));

    // The flows start in the background: feed samples until they answer.
    const derivedOf = (source: Sample) => accepted.filter((s) => s.point.startsWith('node-red.') && s.time === source.time);
    // Any probe answered counts: under load a flow may take longer than one retry to answer,
    // and looking only at the newest probe would never see the older ones' answers.
    const probes: Sample[] = [];
    const sendProbe = () => {
      const probe = powerSample(1);
      probes.push(probe);
      link.accept([probe]);
    };
    sendProbe();
    let retries = 0;
    await waitFor(
      () => probes.some((probe) => derivedOf(probe).length === 2),
      60_000,
      'the deployed flow never derived a sample',
      () => {
        if (++retries % 5 === 0) sendProbe();
      },
    );

    const sources = [powerSample(3.5), powerSample(7.25), powerSample(null, 'bad'), powerSample(0.004)];
    link.accept(sources);
    const good = sources.filter((s) => s.quality === 'good');
    await waitFor(() => good.every((s) => derivedOf(s).length === 2), 30_000, 'derived samples missing');
    for (const source of good) {
      const derived = derivedOf(source);
      expect(derived.find((s) => s.point === 'node-red.power-w')!.value).toBeCloseTo((source.value as number) * 1000, 9);
      expect(derived.find((s) => s.point === 'node-red.power-high')).toMatchObject({ value: (source.value as number) > 5, quality: 'good' });
    }
    // The bad sample was left out ("only samples of good quality").
    expect(derivedOf(sources[2]!)).toEqual([]);
    expect(host!.stats().refused).toBe(0);
  });

  it('refuses a value of the wrong kind and an undeclared point, counted, and goes on', async () => {
    const flows = JSON.parse(readFileSync(join(packageDir, 'sample-flows.json'), 'utf8')) as unknown[];
    const inject = (id: string, payload: string, payloadType: string, point: string) => [
      {
        id: `${id}a`,
        type: 'inject',
        z: 'feedfacecafe0001',
        name: '',
        props: [{ p: 'payload' }],
        repeat: '',
        crontab: '',
        once: false,
        onceDelay: 0.1,
        topic: '',
        payload,
        payloadType,
        x: 100,
        y: 100,
        wires: [[`${id}b`]],
      },
      { id: `${id}b`, type: 'citypilot point out', z: 'feedfacecafe0001', name: '', point, x: 300, y: 100, wires: [] },
    ];
    await deploy([
      ...flows,
      { id: 'feedfacecafe0001', type: 'tab', label: 'Mistakes', disabled: false, info: '' },
      ...inject('0000000000000a1', 'high', 'str', 'node-red.power-w'),
      ...inject('0000000000000b1', '1', 'num', 'node-red.nope'),
      ...inject('0000000000000c1', '42.5', 'num', 'node-red.power-w'),
    ]);
    const before = accepted.length;
    // 404 until the new flows have started.
    const press = (id: string) =>
      waitFor(async () => (await fetch(`${host!.url}/inject/${id}`, { method: 'POST' })).status === 200, 30_000, `inject ${id} not found`);
    await press('0000000000000a1a');
    await press('0000000000000b1a');
    await waitFor(() => host!.stats().refused === 2, 30_000, `refusals not counted: ${JSON.stringify(host!.stats())}`);
    expect(refusedPoints.sort()).toEqual(['node-red.nope', 'node-red.power-w']);
    const errors = log.filter((e) => e.level === 'error' && (e.fields.node as { type?: string } | undefined)?.type === 'citypilot point out').map((e) => e.msg);
    expect(errors).toEqual(
      expect.arrayContaining([
        '"high" is not a value of node-red.power-w: expected a finite number',
        expect.stringContaining('"node-red.nope" is not a virtual point of this gateway: expected one of "node-red.power-w", "node-red.power-high"'),
      ]),
    );

    // The node still publishes what fits, at the gateway's time (no msg.time).
    await press('0000000000000c1a');
    await waitFor(() => accepted.length > before, 30_000, 'the valid value was not published');
    const published = accepted.slice(before).filter((s) => s.point.startsWith('node-red.'));
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ point: 'node-red.power-w', value: 42.5, quality: 'good' });
    expect(Math.abs(published[0]!.time - Date.now())).toBeLessThan(3600_000);
  });

  it('refuses a second Node-RED in the same process, clearly', async () => {
    const second = NodeRedHost.start({
      config: { ...config, flowsFile: join(dir, 'other.json') },
      userDir: join(dir, 'other'),
      owner: 'gateway other',
      link,
      logger,
    });
    await expect(second).rejects.toBeInstanceOf(NodeRedHostError);
    await expect(second).rejects.toMatchObject({
      code: 'NODE_RED_ALREADY_RUNNING',
      message: expect.stringContaining('already running in this process (for gateway test)'),
    });
    expect(existsSync(join(dir, 'other'))).toBe(false);
  });

  it('stops listening to the gateway once stopped, and starts again with the saved flows', async () => {
    await host!.stop();
    host = undefined;
    expect(gatewaySamples.listenerCount('samples')).toBe(0);
    host = await NodeRedHost.start({ config, userDir: join(dir, 'data', 'node-red'), owner: 'gateway test', link, logger });
    const before = accepted.length;
    await waitFor(
      () => accepted.slice(before).some((s) => s.point === 'node-red.power-w'),
      60_000,
      'the saved flows did not run again',
      () => link.accept([powerSample(2)]),
    );
    // Node-RED wrote nothing beside the flows in the configuration folder but its own backup and credentials.
    expect(readdirSync(configDir).filter((f) => !/^(flows\.json|\.flows\.json\.backup|flows_cred\.json|\.flows_cred\.json\.backup)$/.test(f))).toEqual([]);
  });

  it('reports a port already taken, and leaves the process free to start Node-RED again', async () => {
    await host!.stop();
    host = undefined;
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as AddressInfo).port;
      const failed = NodeRedHost.start({ config: { ...config, port }, userDir: join(dir, 'data', 'node-red'), owner: 'gateway test', link, logger });
      await expect(failed).rejects.toMatchObject({ code: 'NODE_RED_START_FAILED', message: expect.stringContaining(`127.0.0.1:${port}`) });
    } finally {
      taken.close();
    }
    expect(gatewaySamples.listenerCount('samples')).toBe(0);
    host = await NodeRedHost.start({ config, userDir: join(dir, 'data', 'node-red'), owner: 'gateway test', link, logger });
    expect(host.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
});
