import { afterEach, describe, expect, it } from 'vitest';
import { ObjectType, PropertyIdentifier, Reliability } from '@bacnet-js/client';
import { BacnetClient } from '@citypilot/protocol-bacnet';
import { BacnetSimulator, buildingObjects, waitUntil, type BacnetSimulatorOptions, type SimulatedObjectSpec } from '@citypilot/protocol-bacnet/testing';
import {
  ConfigError,
  DeviceProtocolError,
  DeviceTimeoutError,
  pluginDeviceSchema,
  validate,
  type DeviceConfig,
  type Driver,
  type DriverPlugin,
  type Logger,
  type Reading,
} from '@citypilot/sdk';
import type { bacnetAddress, bacnetConnection } from './schema.js';
import { createBacnetPlugin } from './plugin.js';
import { freeUdpPort } from './simulate.js';

type BacnetPlugin = ReturnType<typeof createBacnetPlugin>;
type BacnetDeviceConfig = DeviceConfig<typeof bacnetConnection, typeof bacnetAddress>;

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const AI = ObjectType.ANALOG_INPUT;
const AV = ObjectType.ANALOG_VALUE;
const BV = ObjectType.BINARY_VALUE;

/** Objects whose values move only when a test sets them: notifications come when the test says. */
const stillObjects = (): SimulatedObjectSpec[] => buildingObjects().map(({ move: _move, ...spec }) => spec);

describe('the BACnet driver', () => {
  const simulators: BacnetSimulator[] = [];
  const drivers: Driver[] = [];
  const clients: BacnetClient[] = [];
  afterEach(async () => {
    await Promise.all(drivers.splice(0).map((d) => d.close()));
    for (const c of clients.splice(0)) c.close();
    await Promise.all(simulators.splice(0).map((s) => s.stop()));
  });

  async function simulator(options: BacnetSimulatorOptions = {}) {
    const sim = new BacnetSimulator({ objects: stillObjects(), ...options });
    simulators.push(sim);
    await sim.start();
    return sim;
  }

  /** A device block as the gateway hands it over: validated, defaults filled in. */
  function block(plugin: BacnetPlugin, connection: Record<string, unknown>, points: unknown[], id = 'ahu'): BacnetDeviceConfig {
    const result = validate(pluginDeviceSchema(plugin as unknown as DriverPlugin), { id, plugin: 'bacnet', connection, points });
    if (!result.ok) throw new ConfigError(result.issues);
    return result.value as unknown as BacnetDeviceConfig;
  }

  async function driverFor(
    sim: BacnetSimulator,
    connection: Record<string, unknown>,
    points: unknown[],
    plugin: BacnetPlugin = createBacnetPlugin(),
    timeoutMs = 1000,
    logger = quiet,
  ) {
    const port = await freeUdpPort();
    const device = block(
      plugin,
      { deviceInstance: sim.deviceInstance, address: sim.address, network: { interface: '127.0.0.1', port }, retries: 0, ...connection },
      points,
    );
    const driver = plugin.create(device, { timeoutMs, logger });
    drivers.push(driver);
    return driver;
  }

  const byPoint = (readings: Reading[]) => Object.fromEntries(readings.map((r) => [r.point, r]));

  const buildingPoints = [
    { id: 'supply-temp', unit: '°C', address: { objectType: 'analog-input', instance: 1 } },
    { id: 'power', unit: 'kW', address: { objectType: 'analog-input', instance: 4 } },
    { id: 'fan-status', kind: 'boolean', address: { objectType: 'binary-input', instance: 1 } },
    { id: 'fan-status-number', address: { objectType: 'binary-input', instance: 1 } },
    { id: 'boiler-state', address: { objectType: 'multi-state-input', instance: 1 } },
    { id: 'supply-name', kind: 'string', address: { objectType: 'analog-input', instance: 1, property: PropertyIdentifier.OBJECT_NAME } },
    { id: 'name-as-number', address: { objectType: 'analog-input', instance: 2, property: PropertyIdentifier.OBJECT_NAME } },
    { id: 'missing', address: { objectType: 'analog-input', instance: 99 } },
  ];

  function expectBuildingValues(readings: Reading[]) {
    const r = byPoint(readings);
    expect(readings.map((x) => x.point)).toEqual(buildingPoints.map((p) => p.id));
    expect(r['supply-temp']).toEqual({ point: 'supply-temp', value: 19, quality: 'good' });
    expect(r.power).toEqual({ point: 'power', value: 30, quality: 'good' });
    expect(r['fan-status']).toEqual({ point: 'fan-status', value: false, quality: 'good' });
    expect(r['fan-status-number']).toEqual({ point: 'fan-status-number', value: 0, quality: 'good' });
    expect(r['boiler-state']).toEqual({ point: 'boiler-state', value: 1, quality: 'good' });
    expect(r['supply-name']).toEqual({ point: 'supply-name', value: 'AHU1 Supply Air Temperature', quality: 'good' });
    expect(r['name-as-number']).toMatchObject({
      value: null,
      quality: 'bad',
      reason: expect.stringMatching(/character string value .* does not fit a number point/),
    });
    // An unknown object fails its own point, with the standard's names of the error.
    expect(r.missing).toEqual({ point: 'missing', value: null, quality: 'bad', reason: 'error object/unknown-object' });
  }

  it('reads with ReadPropertyMultiple: numbers, binary states, multi-states, strings, each point its own error', async () => {
    const sim = await simulator();
    const driver = await driverFor(sim, { mode: 'poll' }, buildingPoints);
    expectBuildingValues(await driver.read());
    const rpm = sim.stats.requests.readPropertyMultiple ?? 0;
    expect(rpm).toBeGreaterThan(0);
    // The Device object is read once; later cycles are ReadPropertyMultiple only.
    const rp = sim.stats.requests.readProperty ?? 0;
    sim.set(AI, 1, 21.5);
    expect(byPoint(await driver.read())['supply-temp']!.value).toBe(21.5);
    expect(sim.stats.requests.readProperty ?? 0).toBe(rp);
    expect(sim.stats.requests.readPropertyMultiple).toBeGreaterThan(rpm);
    // A poll group reads its own points only.
    expect((await driver.read(['power', 'fan-status'])).map((x) => x.point)).toEqual(['power', 'fan-status']);
  });

  it('reads with ReadProperty a device without ReadPropertyMultiple, and when told to', async () => {
    const sim = await simulator({ readPropertyMultiple: false });
    const driver = await driverFor(sim, { mode: 'poll' }, buildingPoints);
    expectBuildingValues(await driver.read());
    expect(sim.stats.requests.readPropertyMultiple ?? 0).toBe(0);

    const other = await simulator();
    const forced = await driverFor(other, { mode: 'poll', readMethod: 'rp' }, buildingPoints);
    expectBuildingValues(await forced.read());
    expect(other.stats.requests.readPropertyMultiple ?? 0).toBe(0);
  });

  it('reads a device without segmentation and a small APDU in requests that fit it', async () => {
    const sim = await simulator({ objects: undefined, generatedAnalogInputs: 60, maxApdu: 128, segmentation: 'none' });
    const points = Array.from({ length: 60 }, (_, i) => ({ id: `zone-${i + 1}`, unit: '°C', address: { objectType: 'analog-input', instance: 1000 + i } }));
    const driver = await driverFor(sim, { mode: 'poll', maxRequestsInFlight: 1 }, points);
    const readings = await driver.read();
    expect(readings.filter((r) => r.quality !== 'good')).toEqual([]);
    expect(sim.stats.largestApdu).toBeLessThanOrEqual(128);
    expect(sim.stats.segmentedAnswers).toBe(0);
    expect(sim.stats.maxInFlight).toBe(1);
    expect(sim.stats.requests.readPropertyMultiple).toBeGreaterThan(4);

    // More requests in flight for a device that takes them, never more than the setting.
    const slow = await simulator({ objects: undefined, generatedAnalogInputs: 60, maxApdu: 128, responseDelayMs: 30 });
    const parallel = await driverFor(slow, { mode: 'poll', maxRequestsInFlight: 3 }, points);
    expect((await parallel.read()).filter((r) => r.quality !== 'good')).toEqual([]);
    expect(slow.stats.maxInFlight).toBe(3);
  });

  it('maps status flags, reliability and out-of-service to the quality', async () => {
    const sim = await simulator();
    const points = [1, 2, 3, 4].map((instance) => ({ id: `ai-${instance}`, address: { objectType: 'analog-input', instance } }));
    const driver = await driverFor(sim, { mode: 'poll' }, points);
    sim.setStatus(AI, 1, { inAlarm: true });
    sim.setStatus(AI, 2, { reliability: Reliability.OPEN_LOOP });
    sim.setStatus(AI, 3, { outOfService: true });
    sim.setStatus(AI, 4, { overridden: true });
    expect(await driver.read()).toEqual([
      { point: 'ai-1', value: 19, quality: 'good' },
      { point: 'ai-2', value: null, quality: 'bad', reason: 'fault: open-loop' },
      { point: 'ai-3', value: 65, quality: 'uncertain', reason: 'out of service' },
      { point: 'ai-4', value: 30, quality: 'uncertain', reason: 'overridden' },
    ]);
  });

  it('rejects with DeviceTimeoutError when the device is silent, and reads again when it answers', async () => {
    const sim = await simulator();
    const driver = await driverFor(sim, { mode: 'poll' }, buildingPoints.slice(0, 2), undefined, 300);
    await driver.read();
    sim.misbehave('silent');
    await expect(driver.read()).rejects.toBeInstanceOf(DeviceTimeoutError);
    sim.misbehave('malformed');
    await expect(driver.read()).rejects.toThrow(/device 1234/);
    sim.misbehave('none');
    expect((await driver.read()).map((r) => r.quality)).toEqual(['good', 'good']);
  });

  it('finds a device without address by a Who-Is for its instance', async () => {
    const sim = await simulator({ interface: '0.0.0.0', deviceInstance: 4711 });
    const port = Number(sim.address.split(':')[1]);
    const plugin = createBacnetPlugin();
    const gatewayPort = await freeUdpPort('0.0.0.0');
    const device = block(
      plugin,
      { deviceInstance: 4711, network: { interface: '0.0.0.0', port: gatewayPort, broadcastAddress: `127.255.255.255:${port}` }, mode: 'poll' },
      buildingPoints.slice(0, 1),
    );
    const driver = plugin.create(device, { timeoutMs: 1000, logger: quiet });
    drivers.push(driver);
    expect(await driver.read()).toEqual([{ point: 'supply-temp', value: 19, quality: 'good' }]);
    expect(sim.stats.whoIs).toBe(1);

    // Another instance answers nothing: the device is reported as not answering.
    const missing = plugin.create(block(plugin, { ...device.connection, deviceInstance: 4712 }, buildingPoints.slice(0, 1), 'other'), {
      timeoutMs: 300,
      logger: quiet,
    });
    drivers.push(missing);
    await expect(missing.read()).rejects.toThrow(/device 4712 did not answer a Who-Is/);
  });

  it('shares one socket between the devices of an interface and port, registers once with a BBMD, and closes it with the last', async () => {
    const bbmd = await simulator({ bbmd: true, deviceInstance: 1 });
    const a = await simulator({ deviceInstance: 2 });
    const b = await simulator({ deviceInstance: 3 });
    const plugin = createBacnetPlugin();
    const port = await freeUdpPort();
    const network = { interface: '127.0.0.1', port, bbmd: { address: bbmd.address, ttl: '10m' } };
    const make = (sim: BacnetSimulator, id: string) =>
      plugin.create(block(plugin, { deviceInstance: sim.deviceInstance, address: sim.address, network, mode: 'poll' }, buildingPoints.slice(0, 1), id), {
        timeoutMs: 1000,
        logger: quiet,
      });
    const first = make(a, 'a');
    const second = make(b, 'b');
    drivers.push(first, second);
    expect(plugin.sockets.users()).toEqual(new Map([[`127.0.0.1:${port}`, 2]]));
    // A third device on that socket with other settings is refused, with the setting's path.
    const conflicting = block(
      plugin,
      { deviceInstance: 9, address: a.address, network: { ...network, broadcastAddress: '127.0.0.255' } },
      buildingPoints.slice(0, 1),
      'c',
    );
    expect(() => plugin.create(conflicting, { timeoutMs: 1000, logger: quiet })).toThrow(ConfigError);
    try {
      plugin.create(conflicting, { timeoutMs: 1000, logger: quiet });
    } catch (error) {
      expect((error as ConfigError).issues[0]!.path).toEqual(['connection', 'network', 'broadcastAddress']);
    }
    await Promise.all([first.read(), second.read()]);
    expect(bbmd.stats.foreignDeviceRegistrations).toBe(1);
    await first.close();
    expect((await second.read())[0]!.quality).toBe('good');
    await second.close();
    expect(plugin.sockets.users()).toEqual(new Map());
    // The port is free again.
    const again = new BacnetClient({ interface: '127.0.0.1', port });
    clients.push(again);
    await expect(again.open()).resolves.toMatchObject({ port });
  });

  it('reads a device with an address while its BBMD does not answer, saying so once', async () => {
    const notBbmd = await simulator({ deviceInstance: 1 });
    const device = await simulator({ deviceInstance: 2 });
    const warnings: string[] = [];
    const logger = { ...quiet, warn: (_: object, msg?: string) => void warnings.push(msg ?? '') };
    const driver = await driverFor(
      device,
      { mode: 'poll', network: { interface: '127.0.0.1', port: await freeUdpPort(), bbmd: { address: notBbmd.address, ttl: '1m' } } },
      buildingPoints.slice(0, 1),
      undefined,
      300,
      logger,
    );
    expect(await driver.read()).toEqual([{ point: 'supply-temp', value: 19, quality: 'good' }]);
    expect(await driver.read()).toEqual([{ point: 'supply-temp', value: 19, quality: 'good' }]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cannot register as a foreign device with 127\.0\.0\.1:\d+: broadcasts \(Who-Is\) do not cross/);
  });

  describe('in mode cov', () => {
    const points = [
      { id: 'supply-temp', unit: '°C', address: { objectType: 'analog-input', instance: 1 } },
      { id: 'power', unit: 'kW', address: { objectType: 'analog-input', instance: 4, covIncrement: 2.5 } },
      { id: 'fan', kind: 'boolean', address: { objectType: 'binary-input', instance: 1 } },
      { id: 'energy', unit: 'kWh', address: { objectType: 'analog-value', instance: 2, read: 'poll' } },
    ];

    it('subscribes at the first read, answers later reads from notifications, and reads only the polled points', async () => {
      const sim = await simulator();
      const driver = await driverFor(sim, { confirmedNotifications: true }, points);
      const first = await driver.read();
      expect(first.map((r) => r.quality)).toEqual(['good', 'good', 'good', 'good']);
      expect(sim.covSubscriptions.map((s) => `${s.object.type}:${s.object.instance}:${s.confirmed}`).sort()).toEqual([
        `${AI}:1:true`,
        `${AI}:4:true`,
        `${ObjectType.BINARY_INPUT}:1:true`,
      ]);
      expect(sim.covSubscriptions[0]!.lifetime).toBe(600);
      // covIncrement is written to the object when it differs.
      const check = new BacnetClient({ interface: '127.0.0.1', port: 0 });
      clients.push(check);
      expect((await check.readProperty({ address: sim.address }, { objectType: AI, instance: 4, property: PropertyIdentifier.COV_INCREMENT }))[0]!.value).toBe(
        2.5,
      );

      await driver.read();
      const rpm = sim.stats.requests.readPropertyMultiple ?? 0;
      const rp = sim.stats.requests.readProperty ?? 0;
      sim.set(AI, 1, 22.25);
      sim.set(ObjectType.BINARY_INPUT, 1, 1);
      await waitUntil('the notifications arrive', () => sim.stats.covAcks >= 5);
      const later = byPoint(await driver.read());
      expect(later['supply-temp']).toEqual({ point: 'supply-temp', value: 22.25, quality: 'good' });
      expect(later.fan).toEqual({ point: 'fan', value: true, quality: 'good' });
      expect(later.power).toEqual({ point: 'power', value: 30, quality: 'good' });
      // Only the polled point was read, in one request; the subscribed ones came from notifications.
      expect(sim.stats.requests.readPropertyMultiple).toBe(rpm + 1);
      expect(sim.stats.requests.readProperty ?? 0).toBe(rp);
      // A group all subscribed: no point is read; nothing was heard from the device since the
      // last read, so it is asked one small question (its database-revision and system-status,
      // in one request), to know it is still there.
      await driver.read(['supply-temp']);
      expect(sim.stats.requests.readPropertyMultiple).toBe(rpm + 2);
      expect(sim.stats.requests.readProperty ?? 0).toBe(rp);
      // A notification since: not even that.
      sim.set(AI, 1, 22.5);
      await waitUntil('the change is notified', () => sim.stats.covAcks >= 6);
      expect(await driver.read(['supply-temp'])).toEqual([{ point: 'supply-temp', value: 22.5, quality: 'good' }]);
      expect(sim.stats.requests.readPropertyMultiple).toBe(rpm + 2);
      sim.set(AI, 1, 22.25);
      await waitUntil('the change is notified', () => sim.stats.covAcks >= 7);

      // A notified fault: the reliability, which the notification does not carry, is read once.
      sim.setStatus(AI, 1, { reliability: Reliability.OVER_RANGE });
      await waitUntil('the fault is notified', () => sim.stats.covAcks >= 8);
      expect(byPoint(await driver.read())['supply-temp']).toEqual({ point: 'supply-temp', value: null, quality: 'bad', reason: 'fault: over-range' });
      sim.setStatus(AI, 1, { reliability: Reliability.NO_FAULT_DETECTED, outOfService: true });
      await waitUntil('the change is notified', () => sim.stats.covAcks >= 9);
      expect(byPoint(await driver.read())['supply-temp']).toEqual({ point: 'supply-temp', value: 22.25, quality: 'uncertain', reason: 'out of service' });

      await driver.close();
      // Closing cancels the subscriptions on the device.
      expect(sim.covSubscriptions).toEqual([]);
    });

    it('renews its subscriptions before they end', async () => {
      const sim = await simulator();
      const driver = await driverFor(sim, { covLifetime: '2s' }, points.slice(0, 1));
      await driver.read();
      await waitUntil('two renewals', () => (sim.stats.requests.subscribeCov ?? 0) >= 3, 20_000);
      expect(sim.stats.covExpired).toBe(0);
      expect(sim.covSubscriptions).toHaveLength(1);
      sim.set(AI, 1, 18.5);
      await waitUntil('the value is notified', () => sim.stats.covNotifications >= 5);
      const rpm = sim.stats.requests.readPropertyMultiple ?? 0;
      expect(await driver.read()).toEqual([{ point: 'supply-temp', value: 18.5, quality: 'good' }]);
      expect(sim.stats.requests.readPropertyMultiple ?? 0).toBe(rpm);
    });

    it('reads the points of a device that refuses COV, and asks again after covLifetime', async () => {
      const sim = await simulator({ cov: false });
      const warnings: string[] = [];
      const driver = await driverFor(sim, { covLifetime: '1s' }, points, undefined, 1000, {
        ...quiet,
        warn: (_: object, msg?: string) => void warnings.push(msg ?? ''),
      });
      expect((await driver.read()).map((r) => r.quality)).toEqual(['good', 'good', 'good', 'good']);
      // One refusal is enough for the device: its other points are not asked.
      expect(sim.stats.requests.subscribeCov).toBe(1);
      const rpm = sim.stats.requests.readPropertyMultiple ?? 0;
      sim.set(AI, 1, 23);
      expect(byPoint(await driver.read())['supply-temp']!.value).toBe(23);
      expect(sim.stats.requests.readPropertyMultiple).toBeGreaterThan(rpm);
      expect(sim.stats.requests.subscribeCov).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await driver.read();
      expect(sim.stats.requests.subscribeCov).toBe(2);
      // Said once, not at every refusal.
      expect(warnings).toEqual(['BACnet device 1234: does not execute SubscribeCOV: its points are read at each interval; asked again in 1s']);
    });

    it('polls a point whose subscription is refused, and keeps the others subscribed', async () => {
      const sim = await simulator();
      const driver = await driverFor(sim, {}, [...points.slice(0, 1), { id: 'ghost', address: { objectType: 'analog-input', instance: 77 } }]);
      const readings = await driver.read();
      expect(readings[1]).toEqual({ point: 'ghost', value: null, quality: 'bad', reason: 'error object/unknown-object' });
      expect(sim.covSubscriptions).toHaveLength(1);
      const subscribes = sim.stats.requests.subscribeCov;
      await driver.read();
      // Not asked again before covLifetime.
      expect(sim.stats.requests.subscribeCov).toBe(subscribes);
    });

    it('drops its subscriptions when the device falls silent, its points bad, and subscribes again when it answers', async () => {
      const sim = await simulator();
      const driver = await driverFor(sim, { confirmedNotifications: true }, points.slice(0, 3), undefined, 300);
      await driver.read();
      await driver.read();
      expect(sim.covSubscriptions).toHaveLength(3);
      sim.misbehave('silent');
      // Nothing came since the last read: the driver asks the device, which does not answer.
      await expect(driver.read()).rejects.toBeInstanceOf(DeviceTimeoutError);
      await expect(driver.read()).rejects.toBeInstanceOf(DeviceTimeoutError);
      sim.misbehave('none');
      const rpm = sim.stats.requests.readPropertyMultiple ?? 0;
      const subscribes = sim.stats.requests.subscribeCov ?? 0;
      // Back: every point is read, then subscribed again at the next read.
      expect((await driver.read()).map((r) => r.quality)).toEqual(['good', 'good', 'good']);
      expect(sim.stats.requests.readPropertyMultiple).toBeGreaterThan(rpm);
      await driver.read();
      expect(sim.stats.requests.subscribeCov).toBe(subscribes + 3);
      await driver.read();
      // The device still holds the subscriptions of before the silence (their cancels were
      // lost): it notifies both, and the driver takes the one it subscribed since.
      const acks = sim.stats.covAcks;
      sim.set(AI, 1, 24.5);
      await waitUntil('the value is notified to both subscriptions', () => sim.stats.covAcks >= acks + 2);
      const rpmAfter = sim.stats.requests.readPropertyMultiple ?? 0;
      expect(byPoint(await driver.read())['supply-temp']).toEqual({ point: 'supply-temp', value: 24.5, quality: 'good' });
      expect(sim.stats.requests.readPropertyMultiple).toBe(rpmAfter);
    });
  });

  describe('a device that restarts within a second', () => {
    const covPoints = [
      { id: 'setpoint', unit: '°C', address: { objectType: 'analog-value', instance: 1 } },
      { id: 'supply-temp', unit: '°C', address: { objectType: 'analog-input', instance: 1 } },
      { id: 'fan', kind: 'boolean', address: { objectType: 'binary-input', instance: 1 } },
    ];
    const INTERVAL_MS = 200;
    // confirmBound(200 ms): 12 intervals.
    const BOUND_MS = 2400;

    async function restartable(broadcastToGateway: boolean) {
      const gatewayPort = await freeUdpPort();
      const sim = await simulator(broadcastToGateway ? { broadcastAddress: `127.0.0.1:${gatewayPort}` } : {});
      const plugin = createBacnetPlugin();
      const logs: string[] = [];
      const logger: Logger = { ...quiet, info: (_fields: unknown, message: string) => logs.push(message) };
      const device = block(
        plugin,
        { deviceInstance: sim.deviceInstance, address: sim.address, network: { interface: '127.0.0.1', port: gatewayPort }, retries: 0 },
        covPoints,
      );
      const driver = plugin.create(device, { timeoutMs: 500, logger, pointIntervalMs: () => INTERVAL_MS }) as Driver & { notes(): string[] };
      drivers.push(driver);
      await driver.read();
      await waitUntil('every point is notified', () => sim.stats.covNotifications >= 3);
      expect(byPoint(await driver.read()).setpoint).toEqual({ point: 'setpoint', value: 19, quality: 'good' });
      return { sim, driver, logs };
    }

    it('is found out by a confirmation read within the bound: the new value is read, never the old one given as good past the bound', async () => {
      const { sim, driver, logs } = await restartable(false);
      const requestsBefore = sim.stats.requests.readPropertyMultiple ?? 0;
      await sim.restart({ values: [{ objectType: AV, instance: 1, value: 17.5 }] });
      const restartedAt = Date.now();
      expect(sim.covSubscriptions).toHaveLength(0);
      const seen: { at: number; reading: Reading }[] = [];
      while (Date.now() - restartedAt < BOUND_MS + 1500) {
        seen.push({ at: Date.now(), reading: byPoint(await driver.read()).setpoint! });
        await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
      }
      // The old value may be given until the confirmation, within the bound; never after it.
      expect(seen.filter((s) => s.at > restartedAt + BOUND_MS && s.reading.value === 19)).toEqual([]);
      expect(seen.at(-1)!.reading).toEqual({ point: 'setpoint', value: 17.5, quality: 'good' });
      // Read within the bound, give or take one read of this loop, which a loaded machine may delay.
      expect(seen.find((s) => s.reading.value === 17.5)!.at - restartedAt).toBeLessThanOrEqual(BOUND_MS + 1000);
      // Subscribed again, logged once, shown in the status.
      expect(sim.covSubscriptions).toHaveLength(3);
      expect(logs.filter((m) => m.includes('restart detected'))).toEqual([
        expect.stringMatching(/BACnet device 1234: restart detected \(analog-value:1 reads 17\.5 while its last notification said 19\)/),
      ]);
      expect(driver.notes()).toEqual([expect.stringMatching(/^restart detected at .*: analog-value:1 reads 17\.5/)]);
      // Still values: each read asks the device one small question (is it there), which carries
      // the confirmations when they are due; the restart costs two reads more.
      expect((sim.stats.requests.readPropertyMultiple ?? 0) - requestsBefore).toBeLessThanOrEqual(seen.length + 2);
      // A change is notified again, on the new subscription.
      sim.set(AV, 1, 18.5);
      await waitUntil('the change is notified', () => sim.covSubscriptions.length === 3 && sim.stats.covNotifications > 0);
      await expect.poll(async () => byPoint(await driver.read()).setpoint!.value, { timeout: 5000 }).toBe(18.5);
    });

    it('is found out at once by the I-Am it broadcasts when it starts', async () => {
      const { sim, driver, logs } = await restartable(true);
      await sim.restart({ values: [{ objectType: AV, instance: 1, value: 17.5 }] });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(byPoint(await driver.read()).setpoint).toEqual({ point: 'setpoint', value: 17.5, quality: 'good' });
      expect(sim.covSubscriptions).toHaveLength(3);
      expect(logs.filter((m) => m.includes('restart detected'))).toEqual([expect.stringMatching(/restart detected \(it sent an I-Am\)/)]);
    });

    it('is found out by a changed database revision, even with its values unchanged', async () => {
      const { sim, driver, logs } = await restartable(false);
      await sim.restart({ databaseRevision: 7 });
      await expect
        .poll(
          async () => {
            await driver.read();
            return sim.covSubscriptions.length;
          },
          { timeout: BOUND_MS + 2000, interval: INTERVAL_MS },
        )
        .toBe(3);
      expect(logs.filter((m) => m.includes('restart detected'))).toEqual([expect.stringMatching(/its database revision went from 1 to 7/)]);
    });
  });

  it('gives REAL values as the shortest decimal of their 32-bit float', async () => {
    const sim = await simulator();
    sim.set(AV, 2, 21.3);
    const driver = await driverFor(sim, { mode: 'poll' }, [{ id: 'energy', address: { objectType: 'analog-value', instance: 2 } }]);
    expect(await driver.read()).toEqual([{ point: 'energy', value: 21.3, quality: 'good' }]);
  });

  it('reports a device that answered, then went silent, as silent since its last answer, without advice on its settings', async () => {
    const sim = await simulator({ deviceInstance: 4713 });
    const plugin = createBacnetPlugin();
    const device = block(
      plugin,
      { deviceInstance: 4713, network: { interface: '127.0.0.1', port: await freeUdpPort(), broadcastAddress: sim.address }, mode: 'poll', retries: 0 },
      buildingPoints.slice(0, 1),
    );
    const driver = plugin.create(device, { timeoutMs: 300, logger: quiet });
    drivers.push(driver);
    expect(await driver.read()).toEqual([{ point: 'supply-temp', value: 19, quality: 'good' }]);
    await sim.stop();
    await expect(driver.read()).rejects.toThrow(/^device 4713 \(127\.0\.0\.1:\d+\) silent since \d{4}-\d\d-\d\dT/);
    const error = await driver.read().then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(DeviceTimeoutError);
    expect(error!.message).toMatch(/^device 4713 silent since \d{4}-\d\d-\d\dT[\d:.]+Z: a Who-Is sent to 127\.0\.0\.1:\d+ got no answer within 300 ms$/);
    expect(error!.message).not.toMatch(/interface|connection\.address/);
  });

  it("writes at the point's priority, relinquishes, and refuses what the device refuses", async () => {
    const sim = await simulator();
    const driver = await driverFor(sim, { mode: 'poll' }, [
      { id: 'setpoint', unit: '°C', writable: true, address: { objectType: 'analog-value', instance: 1, priority: 12 } },
      { id: 'occupancy', kind: 'boolean', writable: true, address: { objectType: 'binary-value', instance: 1 } },
      { id: 'mode', writable: true, address: { objectType: 'multi-state-value', instance: 1, priority: 8 } },
      { id: 'supply-temp', address: { objectType: 'analog-input', instance: 1 } },
      { id: 'missing', writable: true, address: { objectType: 'analog-value', instance: 99 } },
    ]);
    await driver.write!('setpoint', 21.5);
    expect(sim.priorityArray(AV, 1)[11]).toBe(21.5);
    expect(sim.get(AV, 1)).toBe(21.5);
    await driver.write!('occupancy', true);
    expect(sim.priorityArray(BV, 1)[15]).toBe(1);
    await driver.write!('mode', 3);
    expect(sim.priorityArray(ObjectType.MULTI_STATE_VALUE, 1)[7]).toBe(3);
    expect(byPoint(await driver.read()).setpoint!.value).toBe(21.5);

    await driver.relinquish!('setpoint');
    expect(sim.priorityArray(AV, 1)[11]).toBeNull();
    // Back to the relinquish default.
    expect(sim.get(AV, 1)).toBe(19);

    await expect(driver.write!('missing', 9)).rejects.toThrow(DeviceProtocolError);
    await expect(driver.write!('missing', 9)).rejects.toThrow(/write of analog-value:99 refused: error object\/unknown-object/);
    // A state the object does not have is refused before anything is sent.
    await expect(driver.write!('mode', 9)).rejects.toThrow(ConfigError);
    await expect(driver.write!('mode', 9)).rejects.toThrow('points[2]: 9 is outside the range of multi-state-value 1: state numbers from 1 to 4');
    await expect(driver.write!('supply-temp', 5)).rejects.toThrow(ConfigError);
  });

  it('refuses a configuration the schema cannot check, every problem at its path', () => {
    const plugin = createBacnetPlugin();
    const device = block(
      plugin,
      { deviceInstance: 5, address: '192.168.1.300', covLifetime: '1500ms', network: { bbmd: { address: '10.0.0.1', ttl: '20h' } } },
      [
        { id: 'a', kind: 'boolean', address: { objectType: 'analog-input', instance: 1 } },
        { id: 'b', kind: 'boolean', address: { objectType: 'binary-input', instance: 1, covIncrement: 1 } },
        { id: 'c', address: { objectType: 'analog-input', instance: 2, covIncrement: 1, read: 'poll' } },
        { id: 'd', writable: true, address: { objectType: 'analog-input', instance: 3 } },
        { id: 'e', address: { objectType: 'analog-value', instance: 1, priority: 8 } },
        { id: 'f', address: { objectType: 8, instance: 5 } },
        { id: 'g', address: { objectType: 'analog-input', instance: 1, property: PropertyIdentifier.OBJECT_LIST } },
        { id: 'a', kind: 'string', address: { objectType: 'characterstring-value', instance: 1 } },
      ],
    );
    let error: unknown;
    try {
      plugin.create(device, { timeoutMs: 1000, logger: quiet });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.path.join('.'))).toEqual([
      'connection.address',
      'connection.network.bbmd.ttl',
      'connection.covLifetime',
      'points.0.kind',
      'points.1.address.covIncrement',
      'points.2.address.covIncrement',
      'points.3.writable',
      'points.4.address.priority',
      'points.5.address.objectType',
      'points.6.address.property',
      'points.7.id',
    ]);
    expect((error as ConfigError).message).toMatch(/points\[1\]\.address\.covIncrement: applies to analog objects .* not to a binary-input/);
    // Nothing was opened or joined.
    expect(plugin.sockets.users()).toEqual(new Map());
  });
});
