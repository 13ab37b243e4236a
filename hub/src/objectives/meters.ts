/**
 * Meters as an energy auditor counts them: for each building and energy, one main meter (the
 * building's, Haystack's `siteMeter`) and sub-meters of it (Haystack's `submeterOf`), and every
 * meter's advance in final-energy kWh whatever the unit it counts in.
 *
 * Objectives see meter points through their *effective tags*:
 * - a main meter keeps `meter`; a sub-meter loses `meter` and gets `submeter` instead, so that
 *   `delta("elec meter energy")` reads main meters only (never the same energy twice) and
 *   `delta("elec submeter energy")` the breakdown;
 * - a meter counting a volume or a mass of fuel (`gas meter volume` in m³, fuel oil in L, wood in
 *   kg) is converted to kWh and gets `energy`: `delta("meter energy gas")` is the gas in kWh,
 *   `delta("meter energy")` every energy's main meters in kWh.
 *
 * Roles come from the catalog (`meters` of a building), else from the gateway's point tags
 * (`siteMeter`, `submeter`), else by default: when a building has several meters of one energy
 * and none is declared main, the one whose `<gateway>/<point>` sorts first is the main meter and
 * the others its sub-meters, with a warning (the catalog import prints it).
 *
 * A building may be measured twice for one energy: by its BMS (a gateway's meters) and by its
 * utility (a Linky or Gazpar meter read from Enedis or GRDF, hub/src/utility). These are two
 * sources of the same energy, not a main meter and its sub-meter: roles are resolved within
 * each source, every meter gets its source's tag (`bms` or `utility`), and a query that names no
 * source reads one source per building and energy: the BMS where it has a main meter, else the
 * utility. An objective says which one it reads by naming it: `delta("elec meter energy utility")`
 * reads the utility's meters wherever there are, `delta("elec meter energy bms")` the BMS's.
 */

/** Energies a meter can measure, by the tag that names it. */
export const ENERGIES = ['elec', 'gas', 'heat', 'chilled', 'oil', 'wood'] as const;
export type Energy = (typeof ENERGIES)[number];

/** A conversion coefficient to kWh of one meter, in force from a local month on. */
export interface Conversion {
  /** First local month `YYYY-MM` it applies to (until the next one's). */
  from: string;
  /** kWh per unit of the meter (kWh/m³ for gas). */
  kWhPerUnit: number;
  /** Where the value comes from (a supplier's invoice, a default: see DEFAULT_CONVERSIONS). */
  source: string;
}

/** A building's declaration of one of its meters (catalog `meters`). */
export interface MeterDeclaration {
  /** The point's id as its gateway announces it (`meters.elec-energy`). */
  point: string;
  role: 'main' | 'sub';
  /** For a sub-meter: the point of the meter it is part of (informative; the energy decides what it is excluded from). */
  submeterOf?: string;
  conversions?: Conversion[];
}

/**
 * Defaults used when a meter counting a volume or mass declares no coefficient. Replace them with
 * your supplier's: they differ by delivery zone and month.
 * - Natural gas: 11.2 kWh (higher heating value, as French bills count) per m³, the typical
 *   conversion coefficient GRDF prints on bills in 2024–2025 (values range about 10.7–11.6 by
 *   zone and month).
 * - Heating oil: 10.0 kWh per litre (lower heating value of domestic heating oil, about
 *   42.6 MJ/kg at 0.845 kg/L; ADEME, Base Carbone, 2024).
 * - Wood pellets: 4.6 kWh per kg (lower heating value at 10 % moisture, EN ISO 17225-2 class A1
 *   minimum 4.6 kWh/kg, 2021).
 */
export const DEFAULT_CONVERSIONS: Readonly<Record<'gas' | 'oil' | 'wood', { unit: string; kWhPerUnit: number; source: string }>> = {
  gas: { unit: 'm³', kWhPerUnit: 11.2, source: 'default: GRDF typical conversion coefficient, 11.2 kWh/m³ (2024–2025)' },
  oil: { unit: 'L', kWhPerUnit: 10.0, source: 'default: heating oil 10.0 kWh/L (ADEME Base Carbone, 2024)' },
  wood: { unit: 'kg', kWhPerUnit: 4.6, source: 'default: wood pellets 4.6 kWh/kg (EN ISO 17225-2 A1, 2021)' },
};

/** Energy units and their factor to kWh. */
const ENERGY_UNITS: Readonly<Record<string, number>> = { Wh: 0.001, kWh: 1, MWh: 1000, GWh: 1_000_000 };

/** A point as meters are resolved: its catalog building, gateway, id, unit and tags. */
export interface MeterPoint {
  id: number;
  building: string;
  gateway: string;
  key: string;
  unit: string | null;
  tags: ReadonlySet<string>;
}

/** Where a meter's readings come from: a gateway reading the BMS or the meter, or the utility. */
export type MeterSource = 'bms' | 'utility';

/** The source of a meter point of gateway `gateway` (utility sources are named `utility:…`, which no gateway can be). */
export function meterSource(gateway: string): MeterSource {
  return gateway.startsWith('utility:') ? 'utility' : 'bms';
}

/** Tags that name a meter's source in a query. */
const SOURCE_TAGS: ReadonlySet<string> = new Set<MeterSource>(['bms', 'utility']);

/**
 * Whether a point with effective tags `tags` (and `meter` when it is one) answers the query
 * `tagSet`: every tag of the set, and for a meter, its building's read source unless the set names one.
 */
export function matchesQuery(tagSet: readonly string[], tags: ReadonlySet<string>, meter: ResolvedMeter | undefined): boolean {
  if (!tagSet.every((t) => tags.has(t))) return false;
  return !meter || meter.read || tagSet.some((t) => SOURCE_TAGS.has(t));
}

export interface ResolvedMeter {
  role: 'main' | 'sub';
  energy: Energy;
  source: MeterSource;
  /** Whether a query that names no source reads it: its source is the one read for its building and energy. */
  read: boolean;
  /** Tags objectives match: see the module's comment. */
  tags: ReadonlySet<string>;
  /**
   * kWh per unit counted, sorted by month, each in force from its `from` (the first also before
   * it); empty for a meter counting kWh already (or in a unit not known here: counted as is).
   */
  conversions: Conversion[];
}

/** The energy a meter point measures: the first of ENERGIES among its tags. */
export function energyOf(tags: ReadonlySet<string>): Energy | undefined {
  return ENERGIES.find((e) => tags.has(e));
}

/**
 * Roles and conversions of the meter points of every building (points tagged `meter` with an
 * energy tag and `energy`, `volume` or `mass`), and the warnings an operator must see.
 * Deterministic: the same points and declarations give the same roles.
 */
export function resolveMeters(
  points: readonly MeterPoint[],
  declarations: ReadonlyMap<string, readonly MeterDeclaration[]>,
): { meters: Map<number, ResolvedMeter>; warnings: string[] } {
  const meters = new Map<number, ResolvedMeter>();
  const warnings: string[] = [];
  const groups = new Map<string, MeterPoint[]>();
  for (const p of points) {
    const energy = energyOf(p.tags);
    if (!energy || !(p.tags.has('meter') || p.tags.has('submeter')) || !['energy', 'volume', 'mass'].some((t) => p.tags.has(t))) continue;
    const key = `${p.building}\0${energy}\0${meterSource(p.gateway)}`;
    (groups.get(key) ?? groups.set(key, []).get(key)!).push(p);
  }
  for (const [key, group] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const [building, energy, source] = key.split('\0') as [string, Energy, MeterSource];
    // The BMS is read where it measures the energy; the utility otherwise.
    const read = source === 'bms' || !groups.has(`${building}\0${energy}\0bms`);
    const declared = new Map((declarations.get(building) ?? []).map((d) => [d.point, d]));
    group.sort((a, b) => (`${a.gateway}/${a.key}` < `${b.gateway}/${b.key}` ? -1 : 1));
    const roleOf = (p: MeterPoint): 'main' | 'sub' | undefined =>
      declared.get(p.key)?.role ?? (p.tags.has('siteMeter') ? 'main' : p.tags.has('submeter') ? 'sub' : undefined);
    const mains = group.filter((p) => roleOf(p) === 'main');
    const names = (ps: MeterPoint[]) => ps.map((p) => `${p.gateway}/${p.key}`).join(', ');
    let main: MeterPoint | undefined;
    if (mains.length > 1) {
      main = mains[0];
      warnings.push(
        `building ${building}: ${mains.length} main ${energy} meters (${names(mains)}); only ${names([main!])} is counted, the others as sub-meters: declare one main meter per energy`,
      );
    } else if (mains.length === 1) {
      main = mains[0];
    } else {
      const undeclared = group.filter((p) => roleOf(p) === undefined);
      main = undeclared[0];
      if (group.length > 1 && main) {
        warnings.push(
          `building ${building}: ${group.length} ${energy} meters (${names(group)}) and none declared main; ${names([main])} is counted as the main meter, the others as its sub-meters: declare the roles in the catalog's meters`,
        );
      }
    }
    for (const p of group) {
      const role = p === main ? 'main' : 'sub';
      const tags = new Set(p.tags);
      tags.add(source);
      if (role === 'sub') {
        tags.delete('meter');
        tags.add('submeter');
      } else {
        tags.delete('submeter');
        tags.add('meter');
      }
      let conversions: Conversion[] = [];
      const unitFactor = p.unit ? ENERGY_UNITS[p.unit] : undefined;
      const fuel = energy === 'gas' || energy === 'oil' || energy === 'wood' ? energy : undefined;
      if (!p.tags.has('energy') && fuel) {
        const declaredConversions = declared.get(p.key)?.conversions;
        conversions = declaredConversions?.length
          ? [...declaredConversions].sort((a, b) => (a.from < b.from ? -1 : 1))
          : [{ from: '0000-01', kWhPerUnit: DEFAULT_CONVERSIONS[fuel].kWhPerUnit, source: DEFAULT_CONVERSIONS[fuel].source }];
        tags.add('energy');
      } else if (unitFactor !== undefined && unitFactor !== 1) {
        conversions = [{ from: '0000-01', kWhPerUnit: unitFactor, source: `unit: ${p.unit} → kWh` }];
      }
      meters.set(p.id, { role, energy, source, read, tags, conversions });
    }
  }
  return { meters, warnings };
}

/** kWh per unit counted in local month `month` (`YYYY-MM`): 1 for a meter without conversions. */
export function kWhPerUnit(meter: ResolvedMeter | undefined, month: string): number {
  if (!meter?.conversions.length) return 1;
  let factor = meter.conversions[0]!.kWhPerUnit;
  for (const c of meter.conversions) if (c.from <= month) factor = c.kWhPerUnit;
  return factor;
}
