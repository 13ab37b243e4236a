import { describe, expect, it } from 'vitest';
import { ID_PATTERN } from '@citypilot/sdk';
import { idFrom, suggestTags } from './discover.js';

describe('OPC UA discovery drafts', () => {
  it('makes ids from browse paths: words split, lowercase, accents off, within the id pattern', () => {
    expect(idFrom(['AHU1', 'SupplyAirTemperature'])).toBe('ahu1-supply-air-temperature');
    expect(idFrom(['CTA Bâtiment A', 'Température reprise'])).toBe('cta-batiment-a-temperature-reprise');
    expect(idFrom(['__', '%'])).toBe('point');
    const long = idFrom([`${'VeryLongName'.repeat(10)}`]);
    expect(long).toMatch(new RegExp(ID_PATTERN));
  });

  it('suggests tags from the unit and whole words of the path, in English and French', () => {
    expect(suggestTags('°C', ['AHU1', 'SupplyAirTemperature'])).toEqual(['temp', 'ahu', 'supply', 'air']);
    expect(suggestTags('kWh', ['Meters', 'Main', 'Energy'])).toEqual(['elec', 'energy', 'meter']);
    expect(suggestTags('m3/h', ['Chaudière', 'DébitEau'])).toEqual(['flow', 'boiler', 'water']);
    expect(suggestTags(undefined, ['CTA', 'ConsigneSoufflage'])).toEqual(['ahu', 'sp', 'supply']);
    // Not a meter, not air: whole words only.
    expect(suggestTags(undefined, ['Boiler', 'Parameter', 'Repair'])).toEqual(['boiler']);
  });
});
