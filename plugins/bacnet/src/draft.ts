import { ID_PATTERN, type DiscoveredDevice, type PointDraft } from '@citypilot/sdk';
import { objectTypeAbbreviation, objectTypeLabel, pointObjectType } from './object-types.js';
import type { BacnetObjectTypeName } from './schema.js';
import { bacnetUnit, NO_UNITS, type UnitQuantity } from './units.js';

/**
 * Draft device blocks from a list of BACnet objects, whoever found them: an EDE file
 * (`citypilot gateway import-ede`) or a device's object list read over the network (discovery).
 * Both hand over the same facts about each object; the drafts are for a technician to review
 * before they go into a configuration, so every guess (tags, ids made unique, points left out)
 * comes with a note.
 */

/** What is known of one BACnet object of a device. */
export interface BacnetObjectInfo {
  /** Object type number (0 analog-input, 3 binary-input, …; 128 and above proprietary). */
  objectType: number;
  /** Object instance number. */
  instance: number;
  /** The object's Object_Name; the point's id is made from it. */
  objectName: string;
  /** The object's Description, when it has one: the point's name. */
  description?: string;
  /** BACnetEngineeringUnits number of its Units property (analog objects). */
  units?: number;
  /**
   * Application type of its present value as read, for the object types whose type alone does
   * not tell (proprietary ones): with it, such an object is drafted by number; without, left out.
   */
  presentValueType?: 'real' | 'double' | 'unsigned' | 'signed' | 'boolean' | 'enumerated' | 'character-string';
  /** State texts: [inactive, active] for binary objects, [state 1, state 2, …] for multi-state ones. */
  stateTexts?: readonly string[];
  /** Whether the object accepts COV subscriptions, when known: false drafts `read: poll`. */
  supportsCov?: boolean;
  /** Whether its present value may be written (settable, commandable), when known. */
  settable?: boolean;
  /** Where it was described, for notes (`plant_EDE.csv:14`). */
  source?: string;
}

/** A draft point of a BACnet device: a {@link PointDraft} whose address is the plugin's. */
export interface BacnetPointDraft extends PointDraft {
  address: { objectType: BacnetObjectTypeName | number; instance: number; read?: 'poll' };
  /** Present, and false, on the points the source says are writable: the switch to review. */
  writable?: false;
}

/** What {@link draftDevice} needs of the device itself. */
export interface BacnetDeviceInfo {
  deviceInstance: number;
  /** The Device object's Object_Name, when known. */
  name?: string;
  /** IPv4 address, with :port when not 47808; absent: found by Who-Is. */
  address?: string;
}

/**
 * Drafts the points of one device's objects: one point per object whose present value a point
 * can read, in the order given, with ids made from object names (lowercase, unique within the
 * device: names used more than once get the object's type and instance appended, so an id does
 * not depend on the order of the list), units from unit codes, and tags suggested from units and
 * names. Notes say what was left out or guessed.
 */
export function draftPoints(objects: readonly BacnetObjectInfo[]): { points: BacnetPointDraft[]; notes: string[] } {
  const notes: string[] = [];
  /** Objects left out, by the reason they cannot be a point, then by type label. */
  const leftOut = new Map<string, Map<string, number>>();
  const unknownUnits = new Map<number, string[]>();
  const drafted: { object: BacnetObjectInfo; point: Omit<BacnetPointDraft, 'id'>; base: string }[] = [];
  for (const object of objects) {
    const type = pointObjectType(object.objectType);
    // The datatype read decides only for proprietary types: a standard type not read by the
    // plugin has a present value no point holds (a schedule's is what it commands, a color's two numbers).
    const kind = type?.kind ?? (object.objectType >= 128 ? kindOfValueType(object.presentValueType) : undefined);
    if (!kind) {
      const reason = leftOutReason(object.objectType);
      const label = objectTypeLabel(object.objectType);
      const byLabel = leftOut.get(reason) ?? new Map<string, number>();
      byLabel.set(label, (byLabel.get(label) ?? 0) + 1);
      leftOut.set(reason, byLabel);
      continue;
    }
    let unit: string | undefined;
    let quantity: UnitQuantity | undefined;
    if (object.units !== undefined && object.units !== NO_UNITS && kind === 'number') {
      const known = bacnetUnit(object.units);
      if (known) {
        unit = known.symbol;
        quantity = known.quantity;
      } else {
        unknownUnits.set(object.units, [...(unknownUnits.get(object.units) ?? []), object.objectName]);
      }
    }
    const point: Omit<BacnetPointDraft, 'id'> = {
      name: object.description?.trim() || object.objectName,
      ...(unit ? { unit } : {}),
      kind,
      tags: suggestTags(object, quantity),
      ...(object.settable ? { writable: false as const } : {}),
      address: {
        objectType: type?.name ?? object.objectType,
        instance: object.instance,
        // Known to have no COV: in mode cov the driver would read it anyway once the device
        // refuses the subscription, but would ask again at every renewal, wasted requests on a
        // small controller. Unknown (undefined) stays with the device's mode.
        ...(object.supportsCov === false ? { read: 'poll' as const } : {}),
      },
    };
    drafted.push({ object, point, base: idFromName(object.objectName) ?? `${objectTypeAbbreviation(object.objectType)}-${object.instance}` });
  }

  const ids = uniqueIds(drafted.map(({ object, base }) => ({ base, suffix: `${objectTypeAbbreviation(object.objectType)}${object.instance}` })));
  const points = drafted.map(({ point }, i) => ({ id: ids[i]!, ...point }));

  const renamed = new Map<string, string[]>();
  drafted.forEach(({ base }, i) => {
    if (ids[i] !== base) renamed.set(base, [...(renamed.get(base) ?? []), ids[i]!]);
  });
  for (const [base, made] of renamed)
    notes.push(`several objects make the id "${base}": ids made unique with the object's type and instance (${made.join(', ')})`);
  for (const [reason, byLabel] of leftOut) {
    const list = [...byLabel].map(([label, n]) => `${n} ${label}`).join(', ');
    notes.push(`left out: ${list} object(s): ${reason}`);
  }
  for (const [code, names] of unknownUnits) notes.push(`unit code ${code} (${names.join(', ')}) has no CityPilot symbol: unit left out, set it by hand`);
  const settable = points.filter((p) => p.writable === false).map((p) => p.id);
  if (settable.length)
    notes.push(`writable objects, drafted with writable: false (set true only once a write by the gateway is wanted and safe): ${settable.join(', ')}`);
  const polled = points.filter((p) => p.address.read === 'poll').map((p) => p.id);
  if (polled.length) notes.push(`no COV support: read: poll, read at every interval rather than subscribed: ${polled.join(', ')}`);
  drafted.forEach(({ object }, i) => {
    const texts = object.stateTexts?.filter((t) => t !== '');
    if (!texts?.length) return;
    const kind = points[i]!.kind;
    const states =
      kind === 'boolean'
        ? `false = ${object.stateTexts![0] ?? '?'}, true = ${object.stateTexts![1] ?? '?'}`
        : object.stateTexts!.map((t, s) => `${s + 1} = ${t}`).join(', ');
    notes.push(`states of ${points[i]!.id}: ${states}`);
  });
  const energy = points.filter((p) => p.tags.includes('energy') && !p.tags.includes('meter')).map((p) => p.id);
  if (energy.length)
    notes.push(
      `energy points without the meter tag (${energy.join(', ')}): add meter to those that are the building's meters, which the hub's energy objectives count`,
    );
  return { points, notes };
}

/**
 * One draft device block: `{ id, name, plugin: 'bacnet', connection: { deviceInstance, address? },
 * points }`, the same shape as discovery's, with notes. The device id is made from its name.
 */
export function draftDevice(
  device: BacnetDeviceInfo,
  objects: readonly BacnetObjectInfo[],
  notes: readonly string[] = [],
): DiscoveredDevice & { device: { id: string; points: BacnetPointDraft[] } } {
  const { points, notes: pointNotes } = draftPoints(objects);
  const name = device.name?.trim() || `BACnet device ${device.deviceInstance}`;
  const allNotes = [...notes];
  if (!device.address)
    allNotes.push(
      `no address: the gateway will look for device ${device.deviceInstance} with a Who-Is; set connection.address (IP, with :port when not 47808) if broadcasts do not reach it`,
    );
  return {
    device: {
      id: (device.name && idFromName(device.name)) || `device-${device.deviceInstance}`,
      name,
      plugin: 'bacnet',
      connection: { deviceInstance: device.deviceInstance, ...(device.address ? { address: device.address } : {}) },
      points,
    },
    notes: [...allNotes, ...pointNotes],
  };
}

/**
 * Makes the ids of several devices drafted together unique, the same way as points' ids: a name
 * used twice gets the device instance appended. Modifies the drafts.
 */
export function uniqueDeviceIds(drafts: readonly (DiscoveredDevice & { device: { id: string } })[]): void {
  const ids = uniqueIds(drafts.map((d) => ({ base: d.device.id, suffix: String((d.device.connection as { deviceInstance: number }).deviceInstance) })));
  drafts.forEach((d, i) => {
    if (ids[i] !== d.device.id) d.notes.unshift(`another device makes the id "${d.device.id}": id made unique with the device instance`);
    d.device.id = ids[i]!;
  });
}

const MAX_ID = 63;
const ID_RE = new RegExp(ID_PATTERN);

/** Why an object of this type is not drafted as a point, for the draft's comment. */
function leftOutReason(objectType: number): string {
  switch (objectType) {
    case 6: // calendar
    case 17: // schedule
      return 'schedules and calendars hold what they command or which days they cover, not a measurement: read the objects they command';
    case 20: // trend-log
    case 25: // event-log
    case 27: // trend-log-multiple
      return 'logs keep the history of other objects: read those objects';
    case 63: // color
      return "a color's present value is a pair of x, y coordinates, and a point holds one value";
    default:
      if (objectType >= 128)
        return 'proprietary objects whose present value could not be read; one that has a present value can be added by hand with its type number as objectType';
      return 'no present value a point can hold (the plugin reads analog, binary, multi-state, counting, integer and text objects)';
  }
}

/**
 * A CityPilot id from a BACnet name: lowercase ASCII letters and digits, accents dropped (é → e,
 * ß → ss), every other run of characters a `-`, so that it reads like the name
 * (`PeerSim-BACnet` → `peersim-bacnet`; capitals inside a word are not cut apart, which would cut
 * acronyms: `ba-cnet`). Undefined when nothing is left.
 */
export function idFromName(name: string): string | undefined {
  const id = folded(name)
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, MAX_ID)
    .replace(/-+$/, '');
  return id && ID_RE.test(id) ? id : undefined;
}

/**
 * Unique ids: a base used once stays; every use of a base used more than once becomes
 * `<base>-<suffix>` (the suffix identifies the object, so the result does not depend on the
 * order). Bases used once are served first: a made-up id yields to an object really named so,
 * and then takes `-2`, `-3`… in order.
 */
function uniqueIds(items: readonly { base: string; suffix: string }[]): string[] {
  const count = new Map<string, number>();
  for (const { base } of items) count.set(base, (count.get(base) ?? 0) + 1);
  const ids: (string | undefined)[] = items.map(({ base }) => (count.get(base) === 1 ? base : undefined));
  const used = new Set(ids.filter((id): id is string => id !== undefined));
  return items.map(({ base, suffix }, i) => {
    if (ids[i] !== undefined) return ids[i]!;
    const wanted = withSuffix(base, suffix);
    let unique = wanted;
    for (let n = 2; used.has(unique); n++) unique = withSuffix(wanted, String(n));
    used.add(unique);
    return unique;
  });
}

function withSuffix(base: string, suffix: string): string {
  return `${base.slice(0, MAX_ID - suffix.length - 1).replace(/-+$/, '')}-${suffix}`;
}

function kindOfValueType(type: BacnetObjectInfo['presentValueType']): PointDraft['kind'] | undefined {
  switch (type) {
    case 'real':
    case 'double':
    case 'unsigned':
    case 'signed':
    case 'enumerated':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'character-string':
      return 'string';
    default:
      return undefined;
  }
}

/** Lowercase ASCII, accents dropped, camelCase split apart: the form names are matched in. */
function plain(text: string): string {
  return folded(text.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2'));
}

/** Lowercase ASCII, accents dropped. */
function folded(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/ß/g, 'ss')
    .toLowerCase();
}

/**
 * Words of building names, English, French and German, as integrators abbreviate them. A word
 * ending in `*` also matches inside a longer word (German compounds such as Vorlauftemperatur,
 * names written without separators such as supplyairtemp); the others only as a whole word
 * (`sp`, `oat`, and `ventil`, which is a valve in German but starts the French for fan).
 */
const VOCABULARY = {
  supply: ['supply*', 'sup', 'sat', 'depart*', 'dep', 'soufflage*', 'souffle', 'vorlauf*', 'vl', 'zuluft*'],
  return: ['return*', 'ret', 'rat', 'retour*', 'reprise*', 'extract*', 'extraction', 'rucklauf*', 'ruecklauf*', 'rl', 'abluft*'],
  exhaust: ['exhaust*', 'rejet*', 'fortluft*'],
  outside: ['outside*', 'outdoor*', 'oat', 'exterieur*', 'ext', 'aussen*', 'aussenluft*'],
  zone: ['room*', 'zone*', 'ambiance*', 'ambiant*', 'ambient*', 'salle*', 'piece', 'raum*', 'bureau*', 'classe*', 'local'],
  air: ['air', 'ahu', 'cta', 'luft*', 'soufflage*', 'reprise*', 'sat', 'rat', 'oat', 'ventilation*', 'zuluft*', 'abluft*'],
  water: ['water', 'eau', 'hw', 'chw', 'hhw', 'lthw', 'dhw', 'ecs', 'wasser*', 'boiler*', 'chaudiere*', 'kessel*', 'hydraulique*'],
  // French and German name the water circuits' flows without saying water.
  waterFlow: ['depart*', 'retour*', 'vorlauf*', 'rucklauf*', 'ruecklauf*', 'vl', 'rl'],
  heat: [
    'heat*',
    'heating',
    'thermal*',
    'thermique*',
    'chaleur*',
    'calori*',
    'chauffage*',
    'warme*',
    'waerme*',
    'heizung*',
    'cet',
    'boiler*',
    'chaudiere*',
    'kessel*',
    'radiat*',
    'heizkorper*',
  ],
  gas: ['gas', 'gaz'],
  setpoint: ['setpoint*', 'sp', 'set', 'stpt', 'consigne*', 'csg', 'cons', 'sollwert*', 'soll'],
  cmd: ['cmd', 'command*', 'commande*', 'start', 'ordre', 'enable', 'befehl*', 'freigabe*'],
  run: ['run', 'running', 'status', 'state', 'etat', 'marche', 'betrieb', 'betriebsmeldung*', 'feedback', 'fb', 'rm'],
  alarm: ['alarm*', 'fault*', 'defaut*', 'failure', 'storung*', 'stoerung*', 'trip', 'panne'],
  fan: ['fan', 'fans', 'ventilateur*', 'ventilator*', 'lufter*', 'luefter*'],
  pump: ['pump*', 'pompe*', 'circulateur*', 'circulator*'],
  valve: ['valve*', 'vanne*', 'ventil', 'v3v', 'vv'],
  damper: ['damper*', 'registre*', 'volet*', 'klappe*', 'dmp'],
  co2: ['co2'],
  otherGas: ['voc', 'cov', 'co', 'no2', 'o3', 'tvoc'],
  meter: ['meter*', 'compteur*', 'zahler*', 'zaehler*', 'counter*', 'totalizer*', 'index'],
  humidity: ['humidity*', 'hum', 'humidite*', 'feuchte*', 'rh', 'hr'],
  mode: ['mode*', 'regime*', 'betriebsart*'],
  occupied: ['presence*', 'occupation*', 'occupancy*', 'occupied', 'occupe*', 'anwesenheit*', 'belegung*'],
} as const;

type Word = keyof typeof VOCABULARY;

function matcher(object: BacnetObjectInfo): (word: Word) => boolean {
  const text = plain(`${object.objectName} ${object.description ?? ''}`);
  const tokens = new Set(text.split(/[^a-z0-9]+/).filter(Boolean));
  // ahu1 → ahu and 1 too, but co2 stays co2 (and is not co).
  for (const token of [...tokens]) {
    if (token === 'co2') continue;
    for (const part of token.split(/(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])/)) tokens.add(part);
  }
  const squashed = text.replace(/[^a-z0-9]+/g, '');
  return (word) => VOCABULARY[word].some((w) => (w.endsWith('*') ? squashed.includes(w.slice(0, -1)) || tokens.has(w.slice(0, -1)) : tokens.has(w)));
}

const INPUTS = new Set(['analog-input', 'binary-input', 'multi-state-input', 'accumulator', 'pulse-converter']);
const OUTPUTS = new Set(['analog-output', 'binary-output', 'multi-state-output']);

/**
 * Haystack-style tags suggested for an object, from its unit's quantity and the words of its
 * name and description: `air temp outside sensor`, `heat water supply temp sensor`,
 * `elec energy`, `fan run sensor`, `valve cmd`. Only what the words say: a technician completes.
 */
export function suggestTags(
  object: BacnetObjectInfo,
  quantity: UnitQuantity | undefined = object.units === undefined ? undefined : bacnetUnit(object.units)?.quantity,
): string[] {
  const has = matcher(object);
  const typeName = pointObjectType(object.objectType)?.name ?? '';
  const binary = typeName.startsWith('binary-');
  const input = INPUTS.has(typeName);
  const output = OUTPUTS.has(typeName);
  const tags: string[] = [];
  const add = (...more: string[]) => {
    for (const t of more) if (!tags.includes(t)) tags.push(t);
  };
  const medium = (fallback?: 'air' | 'water') => {
    if (has('air')) add('air');
    else if (has('water') || has('waterFlow')) {
      // A heating circuit's water, as the Modbus plugin's samples tag it: heat water supply temp.
      if (has('heat')) add('heat');
      add('water');
    } else if (fallback) add(fallback);
  };
  const position = () => {
    if (has('outside')) add('outside');
    else if (has('supply')) add('supply');
    else if (has('return')) add('return');
    else if (has('exhaust')) add('exhaust');
    else if (has('zone')) add('zone');
  };
  const carrier = () => (has('gas') ? 'gas' : has('heat') ? 'heat' : 'elec');
  const meter = () => has('meter') || typeName === 'accumulator' || typeName === 'pulse-converter';
  const equipment = () => {
    if (has('fan')) add('fan');
    else if (has('pump')) add('pump');
    else if (has('valve')) add('valve');
    else if (has('damper')) add('damper');
  };

  switch (quantity) {
    case 'temp':
      // Outdoor and room temperatures are air temperatures whatever the name says.
      medium(has('outside') || has('zone') ? 'air' : undefined);
      add('temp');
      position();
      break;
    case 'temp-delta':
      medium();
      add('temp', 'delta');
      break;
    case 'humidity':
      add('air', 'humidity');
      position();
      break;
    case 'energy':
    case 'power':
      add(carrier());
      if (meter()) add('meter');
      add(quantity);
      break;
    case 'reactive-energy':
    case 'apparent-energy':
    case 'reactive-power':
    case 'apparent-power': {
      const [kind, what] = quantity.split('-') as [string, string];
      add('elec');
      if (meter()) add('meter');
      add(what, kind);
      break;
    }
    case 'pf':
    case 'volt':
    case 'current':
    case 'freq':
      add('elec', quantity);
      break;
    case 'pressure':
    case 'flow':
      medium();
      equipment();
      add(quantity);
      position();
      break;
    case 'volume':
      if (has('gas')) add('gas');
      else if (has('water')) add('water');
      if (meter()) add('meter');
      add('volume');
      break;
    case 'concentration':
      // Rooms and air handlers measure CO2 in ppm, unless the name says another gas.
      if (has('co2') || (!has('otherGas') && (object.units === 96 || object.units === 97))) add('air', 'co2');
      break;
    case 'ratio':
      if (has('humidity')) add('air', 'humidity');
      else equipment();
      break;
    case 'illuminance':
      add('illuminance');
      break;
    default:
      if (binary || typeName.startsWith('multi-state-')) equipment();
  }
  if (binary) {
    if (has('alarm')) add('alarm');
    else if (has('occupied')) add('occupied');
    else if (input || (!output && has('run'))) add('run');
    if (output || (!input && has('cmd'))) add('cmd');
  } else if (typeName.startsWith('multi-state-') && has('mode')) add('mode');

  if (!binary && has('setpoint') && !input) add('sp');
  else if (input) add('sensor');
  else if (output) add('cmd');
  else if (has('cmd')) add('cmd');
  return tags;
}
