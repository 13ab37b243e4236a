import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ObjectType, EngineeringUnits } from '@bacnet-js/client';
import { deviceConfigSchema, parseConfig } from '@citypilot/sdk';
import { draftDevice, draftPoints, idFromName, suggestTags, type BacnetObjectInfo } from './draft.js';
import { objectTypeLabel, objectTypeNumber, pointObjectType } from './object-types.js';
import { bacnetAddress, bacnetConnection, BACNET_OBJECT_TYPES } from './schema.js';
import { bacnetUnit, bacnetUnits } from './units.js';

const AI = 0;
const AO = 1;
const AV = 2;
const BI = 3;
const BO = 4;

const tags = (objectType: number, objectName: string, units?: number, description?: string) =>
  suggestTags({ objectType, instance: 1, objectName, ...(units !== undefined ? { units } : {}), ...(description ? { description } : {}) });

describe('tags suggested from units and names', () => {
  it.each([
    // [type, name, unit code, expected tags]
    [AI, 'AHU1_SupplyAirTemp', 62, ['air', 'temp', 'supply', 'sensor']],
    [AI, 'OAT', 62, ['air', 'temp', 'outside', 'sensor']],
    [AI, 'Aussentemperatur', 62, ['air', 'temp', 'outside', 'sensor']],
    [AI, 'Raumtemperatur Büro 12', 62, ['air', 'temp', 'zone', 'sensor']],
    [AI, 'HK1 Vorlauftemperatur', 62, ['water', 'temp', 'supply', 'sensor']],
    [AI, 'Boiler return water temp', 62, ['heat', 'water', 'temp', 'return', 'sensor']],
    [AV, 'Zone temp setpoint', 62, ['air', 'temp', 'zone', 'sp']],
    [AI, 'Main meter', 19, ['elec', 'meter', 'energy', 'sensor']],
    [AI, 'Lighting energy', 19, ['elec', 'energy', 'sensor']],
    [AI, 'Compteur calories', 146, ['heat', 'meter', 'energy', 'sensor']],
    [AI, 'Gas meter energy', 19, ['gas', 'meter', 'energy', 'sensor']],
    [AI, 'Active power', 48, ['elec', 'power', 'sensor']],
    [AI, 'Reactive energy', 204, ['elec', 'energy', 'reactive', 'sensor']],
    [AI, 'Room CO2', 96, ['air', 'co2', 'sensor']],
    [AI, 'Room VOC', 96, ['sensor']],
    [AO, 'Heating valve', 98, ['valve', 'cmd']],
    [AO, 'OA damper', 98, ['damper', 'cmd']],
    [AI, 'Humidité salle', 98, ['air', 'humidity', 'sensor']],
    [AI, 'Filter dP', 53, ['pressure', 'sensor']],
    [BO, 'Supply fan', undefined, ['fan', 'cmd']],
    [BI, 'Supply fan status', undefined, ['fan', 'run', 'sensor']],
    [BI, 'Pump P1 fault', undefined, ['pump', 'alarm', 'sensor']],
    [BO, 'Pompe marche', undefined, ['pump', 'cmd']],
  ] as const)('%i %s (unit %s): %j', (type, name, unit, expected) => {
    expect(tags(type, name, unit)).toEqual(expected);
  });

  it('reads words of the description too, and not parts of other words', () => {
    expect(tags(AI, 'B01_AI_07', 62, 'Température extérieure')).toEqual(['air', 'temp', 'outside', 'sensor']);
    // "ventil" is a valve in German, "ventilateur" a fan in French.
    expect(tags(BO, 'Ventilateur extraction', undefined)).toEqual(['fan', 'cmd']);
    expect(tags(AO, 'Ventil Heizregister', 98)).toEqual(['valve', 'cmd']);
    // A name saying nothing gets only what the object type says.
    expect(tags(AI, 'X17', undefined)).toEqual(['sensor']);
  });
});

describe('draft points', () => {
  it('drafts ids that read like the names, acronyms whole', () => {
    expect(draftDevice({ deviceInstance: 47001, name: 'PeerSim-BACnet' }, []).device.id).toBe('peersim-bacnet');
    expect(idFromName('AHU01 SupplyAirTemp')).toBe('ahu01-supplyairtemp');
    expect(idFromName('KNXGateway HVACMode')).toBe('knxgateway-hvacmode');
  });

  it('leaves out, each with its reason, the objects that cannot be a point whatever their present value reads as', () => {
    const { points, notes } = draftPoints([
      { objectType: AI, instance: 1, objectName: 'Zone Temp', units: 62 },
      { objectType: ObjectType.SCHEDULE, instance: 1, objectName: 'Occupancy schedule', presentValueType: 'real' },
      { objectType: ObjectType.SCHEDULE, instance: 2, objectName: 'Heating schedule', presentValueType: 'enumerated' },
      { objectType: ObjectType.CALENDAR, instance: 1, objectName: 'Holidays', presentValueType: 'boolean' },
      // A color's present value is a BACnetxyColor: two REALs.
      { objectType: 63, instance: 1, objectName: 'Hall light color', presentValueType: 'real' },
    ]);
    expect(points.map((p) => p.id)).toEqual(['zone-temp']);
    expect(notes.filter((n) => n.startsWith('left out'))).toEqual([
      'left out: 2 schedule, 1 calendar object(s): schedules and calendars hold what they command or which days they cover, not a measurement: read the objects they command',
      "left out: 1 color object(s): a color's present value is a pair of x, y coordinates, and a point holds one value",
    ]);
  });

  it('makes ids from names, unique whatever the order of the objects', () => {
    expect(idFromName('Température départ ÉCS')).toBe('temperature-depart-ecs');
    expect(idFromName('Außentemperatur')).toBe('aussentemperatur');
    expect(idFromName("B01'AHU01'SupTemp")).toBe('b01-ahu01-suptemp');
    expect(idFromName('***')).toBeUndefined();
    expect(idFromName('x'.repeat(100))).toHaveLength(63);
    const objects: BacnetObjectInfo[] = [
      { objectType: AI, instance: 1, objectName: 'Temp' },
      { objectType: AI, instance: 2, objectName: 'Temp' },
      { objectType: AV, instance: 1, objectName: 'Temp-ai1' },
      { objectType: AI, instance: 3, objectName: '—' },
    ];
    const ids = (list: BacnetObjectInfo[]) => Object.fromEntries(draftPoints(list).points.map((p) => [`${p.address.objectType}:${p.address.instance}`, p.id]));
    const forward = ids(objects);
    expect(forward).toEqual({ 'analog-input:1': 'temp-ai1-2', 'analog-input:2': 'temp-ai2', 'analog-value:1': 'temp-ai1', 'analog-input:3': 'ai-3' });
    expect(new Set(Object.values(forward)).size).toBe(4);
    // Reversed, every object keeps its id.
    expect(ids([...objects].reverse())).toEqual(forward);
  });

  it('drafts what discovery finds, proprietary objects included when their present value type is known', () => {
    const objects: BacnetObjectInfo[] = [
      { objectType: AI, instance: 0, objectName: 'Zone Temp', units: 62, supportsCov: true },
      { objectType: 130, instance: 1, objectName: 'Vendor counter', presentValueType: 'unsigned' },
      { objectType: 131, instance: 1, objectName: 'Vendor blob' },
      { objectType: 40, instance: 1, objectName: 'Firmware', presentValueType: 'character-string' },
      { objectType: 19, instance: 2, objectName: 'Mode', stateTexts: ['Off', 'Heat', 'Cool'], settable: true },
    ];
    const drafted = draftDevice({ deviceInstance: 260001, name: 'Room controller 1', address: '192.0.2.40' }, objects);
    expect(drafted.device).toMatchObject({
      id: 'room-controller-1',
      connection: { deviceInstance: 260001, address: '192.0.2.40' },
      points: [
        { id: 'zone-temp', unit: '°C', kind: 'number', address: { objectType: 'analog-input', instance: 0 } },
        { id: 'vendor-counter', kind: 'number', address: { objectType: 130, instance: 1 } },
        { id: 'firmware', kind: 'string', address: { objectType: 'characterstring-value', instance: 1 } },
        { id: 'mode', kind: 'number', writable: false, address: { objectType: 'multi-state-value', instance: 2 } },
      ],
    });
    expect(drafted.notes).toEqual([
      'left out: 1 proprietary object type 131 object(s): proprietary objects whose present value could not be read; one that has a present value can be added by hand with its type number as objectType',
      'writable objects, drafted with writable: false (set true only once a write by the gateway is wanted and safe): mode',
      'states of mode: 1 = Off, 2 = Heat, 3 = Cool',
    ]);
    const device = parseConfig(deviceConfigSchema(bacnetConnection, bacnetAddress), drafted.device);
    expect(device.points[1]!.address).toEqual({ objectType: 130, instance: 1, property: 'present-value', read: 'device', priority: 16 });
  });
});

describe('the tables of units and object types', () => {
  const enumName = (name: string) => name.toLowerCase().replace(/[^a-z0-9]/g, '');

  it("match the numbers of the BACnet library's enumerations", () => {
    const units = new Map(
      Object.entries(EngineeringUnits)
        .filter(([, v]) => typeof v === 'number')
        .map(([k, v]) => [v as number, enumName(k)]),
    );
    for (const unit of bacnetUnits()) expect(units.get(unit.code), `unit ${unit.code} ${unit.name}`).toBe(enumName(unit.name));
    const types = new Map(
      Object.entries(ObjectType)
        .filter(([, v]) => typeof v === 'number')
        .map(([k, v]) => [v as number, enumName(k)]),
    );
    for (let n = 0; n < 60; n++) expect(enumName(objectTypeLabel(n)), `object type ${n}`).toBe(types.get(n));
  });

  it('give the common building units their CityPilot symbols', () => {
    const symbols = Object.fromEntries([62, 98, 19, 48, 135, 53, 96, 87, 29, 146, 80, 37].map((c) => [c, bacnetUnit(c)?.symbol]));
    expect(symbols).toEqual({ 62: '°C', 98: '%', 19: 'kWh', 48: 'kW', 135: 'm3/h', 53: 'Pa', 96: 'ppm', 87: 'l/s', 29: '%RH', 146: 'MWh', 80: 'm3', 37: 'lx' });
    expect(bacnetUnit(95)?.symbol).toBeUndefined();
  });

  it("agree with the README's table of units", () => {
    const readme = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'README.md'), 'utf8');
    const rows = [...readme.matchAll(/^\| (\d+) \| ([a-z-]+) \| ([^|]+) \|$/gm)];
    expect(rows.length).toBeGreaterThan(30);
    for (const [, code, name, symbol] of rows) {
      const unit = bacnetUnit(Number(code));
      expect(unit?.name, `README unit ${code}`).toBe(name);
      expect(unit?.symbol ?? '(none)', `README unit ${code}`).toBe(symbol!.trim());
    }
  });

  it('name every object type the schema accepts, with a kind', () => {
    for (const name of BACNET_OBJECT_TYPES) {
      const number = objectTypeNumber(name);
      expect(number, name).toBeDefined();
      expect(pointObjectType(number!)?.name).toBe(name);
    }
    expect(pointObjectType(8)).toBeUndefined();
    expect(objectTypeLabel(200)).toBe('proprietary object type 200');
  });
});
