import { Type, type TObject } from '@sinclair/typebox';
import {
  ConfigError,
  DeviceTimeoutError,
  DeviceUnreachableError,
  pluginDeviceSchema,
  validate,
  type DeviceConfig,
  type DeviceProfile,
  type DiscoveredDevice,
  type Discovery,
  type DiscoveryContext,
  type Driver,
  type DriverContext,
  type DriverPlugin,
} from '@citypilot/sdk';
import { implausibility, type ProfilePoint } from './plausibility.js';

/** What `citypilot gateway discover modbus` takes, besides the connection settings. */
const scanOptions = {
  units: Type.String({
    pattern: '^\\d{1,3}(-\\d{1,3})?(,\\d{1,3}(-\\d{1,3})?)*$',
    default: '1-10',
    expected: 'unit ids and ranges such as 1-10 or 1,2,5-8',
    description: 'Unit ids (slave addresses) to try, such as 1-10 or 1,2,5-8 (each one that does not answer costs the timeout).',
  }),
};

/** The connection settings a scan varies or does not need. */
const NOT_SCANNED = ['unitId', 'writeFunctions', 'maxGap'] as const;

/** A unit id reached, and how. */
interface Answer {
  unitId: number;
  /** The profiles whose every point the unit answered with values plausible for the model. */
  profiles: string[];
  /** The profiles whose every point the unit answered, with values that are not the model's, and why. */
  implausible: { profile: string; reason: string }[];
}

/**
 * Modbus has no way to ask a device what it is: discovery tries each unit id with a read of
 * holding register 0 (any answer, an exception included, means a device is there; silence
 * means none), then reads every point of each known profile and suggests those the device
 * answers in full with values plausible for the model (plausibility.ts): a device that answers
 * every address (a flat register map) would otherwise fit every profile, and its values would
 * be read as good nonsense. The draft says why a profile that answered was not proposed. It only
 * reads.
 */
export function modbusDiscovery<C extends TObject>(connection: C, plugin: () => DriverPlugin): Discovery {
  const options = Type.Composite([Type.Omit(connection, [...NOT_SCANNED]), Type.Object(scanOptions)], { additionalProperties: false });
  return {
    options,
    async run(raw: unknown, context: DiscoveryContext): Promise<DiscoveredDevice[]> {
      const { units, ...settings } = raw as { units: string } & Record<string, unknown>;
      const unitIds = parseUnits(units);
      const driverContext: DriverContext = { timeoutMs: context.timeoutMs, logger: context.logger };
      const probe = (unitId: number, points: unknown[], fixed: Record<string, unknown> = {}): Driver =>
        createProbe(plugin(), { ...fixed, ...settings, unitId }, points, driverContext);
      const answers: Answer[] = [];
      for (const unitId of unitIds) {
        const driver = probe(unitId, [{ id: 'probe', address: { table: 'holding', address: 0 } }]);
        try {
          await driver.read();
        } catch (error) {
          // Silence, or a gateway's exception 11 (nothing answered on its line): no device.
          if (error instanceof DeviceTimeoutError) continue;
          throw error;
        } finally {
          await driver.close();
        }
        answers.push({ unitId, ...(await matchingProfiles(unitId, context.profiles, probe)) });
      }
      // A Modbus TCP device (not a gateway) commonly answers whatever the unit id.
      const ignoresUnitId = unitIds.length > 1 && answers.length === unitIds.length;
      const found = ignoresUnitId ? answers.slice(0, 1) : answers;
      // The draft names only what differs from the defaults, and where the device is.
      const properties = connection.properties as Record<string, { default?: unknown }>;
      const given = Object.fromEntries(Object.entries(settings).filter(([k, v]) => k === 'host' || k === 'port' || v !== properties[k]?.default));
      return found.map((answer) => draft(answer, given, context.profiles, ignoresUnitId));
    },
  };
}

async function matchingProfiles(
  unitId: number,
  profiles: readonly DeviceProfile[],
  probe: (unitId: number, points: unknown[], fixed?: Record<string, unknown>) => Driver,
): Promise<Omit<Answer, 'unitId'>> {
  const answer: Omit<Answer, 'unitId'> = { profiles: [], implausible: [] };
  for (const profile of profiles) {
    let driver: Driver;
    try {
      driver = probe(unitId, profile.points, profile.connection ?? {});
    } catch (error) {
      // A profile whose fixed settings clash with the scan's (another transport): not this one.
      if (error instanceof ConfigError) continue;
      throw error;
    }
    try {
      const readings = await driver.read();
      if (readings.length !== profile.points.length || readings.some((r) => r.quality === 'bad')) continue;
      const reason = implausibility(profile.points as ProfilePoint[], readings);
      if (reason) answer.implausible.push({ profile: profile.id, reason });
      else answer.profiles.push(profile.id);
    } catch (error) {
      if (!(error instanceof DeviceTimeoutError || error instanceof DeviceUnreachableError)) throw error;
    } finally {
      await driver.close();
    }
  }
  return answer;
}

function draft(answer: Answer, settings: Record<string, unknown>, profiles: readonly DeviceProfile[], ignoresUnitId: boolean): DiscoveredDevice {
  const notes: string[] = [];
  if (ignoresUnitId) notes.push('every unit id tried answered: a Modbus TCP device that ignores the unit id, most likely (kept unit 1 of the range)');
  const [only] = answer.profiles;
  if (answer.profiles.length > 1) notes.push(`several profiles fit (${answer.profiles.join(', ')}): keep the one of the installed model`);
  for (const { profile, reason } of answer.implausible) notes.push(`not proposed: ${profile}, whose addresses it answers, but ${reason}`);
  if (!only) notes.push("no known profile fits: list its points from the manufacturer's register map");
  const connection: Record<string, unknown> = { ...settings, unitId: answer.unitId };
  // What a profile fixes must not be set again in the device block.
  for (const key of Object.keys(profiles.find((p) => p.id === only)?.connection ?? {})) delete connection[key];
  const device: Record<string, unknown> = { id: `unit-${answer.unitId}`, name: `Modbus unit ${answer.unitId}`, plugin: 'modbus' };
  if (only) device.profile = only;
  device.connection = connection;
  if (!only) device.points = [{ id: 'register-0', name: 'Holding register 0', address: { table: 'holding', address: 0, type: 'uint16' } }];
  return { device, notes };
}

/** A throwaway device block read once: its problems are the scan's, not a technician's. */
function createProbe(plugin: DriverPlugin, connection: Record<string, unknown>, points: unknown[], context: DriverContext): Driver {
  const result = validate(pluginDeviceSchema(plugin), { id: 'probe', plugin: plugin.manifest.id, connection, points });
  if (!result.ok) throw new ConfigError(result.issues);
  return plugin.create(result.value as DeviceConfig, context);
}

/** `1-3,7` → [1, 2, 3, 7], in order, without repeats. @throws ConfigError for ids outside 0..255 */
export function parseUnits(text: string): number[] {
  const ids = new Set<number>();
  for (const part of text.split(',')) {
    const [from, to = from] = part.split('-').map(Number) as [number, number?];
    if (from > 255 || to! > 255 || from > to!)
      throw new ConfigError([{ path: ['units'], message: `${JSON.stringify(part)} is not a range of unit ids within 0..255` }]);
    for (let id = from; id <= to!; id++) ids.add(id);
  }
  return [...ids].sort((a, b) => a - b);
}
