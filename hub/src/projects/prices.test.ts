import { describe, expect, it } from 'vitest';
import { ADEME_DEFAULT_FACTORS, factorFor, priceMonth, type Tariff } from './prices.js';

const a = 0.1712;
const b = 0.2134;
const TARIFFS: Tariff[] = [
  { energy: 'elec', from: '2024-01-01', to: '2024-04-15', eurosPerKWh: a, source: 'contrat A' },
  { energy: 'elec', from: '2024-04-16', to: null, eurosPerKWh: b, source: 'contrat B' },
  { energy: 'gas', from: '2020-01-01', to: null, eurosPerKWh: 0.09, source: 'contrat gaz' },
];

describe('prices and emission factors', () => {
  it('weighs a tariff that changes on the 16th of a 30-day month by its days', () => {
    // April: days 1 to 15 at a, 16 to 30 at b.
    expect(priceMonth('elec', '2024-04', TARIFFS)).toEqual({ eurosPerKWh: (15 * a + 15 * b) / 30, source: 'contrat A + contrat B' });
    expect(priceMonth('elec', '2024-03', TARIFFS)).toEqual({ eurosPerKWh: a, source: 'contrat A' });
    expect(priceMonth('gas', '2024-04', TARIFFS)).toEqual({ eurosPerKWh: 0.09, source: 'contrat gaz' });
  });

  it('uses the days covered only, the latest tariff where two overlap, and nothing when no day is covered', () => {
    expect(priceMonth('elec', '2023-12', TARIFFS)).toBeNull();
    expect(priceMonth('heat', '2024-04', TARIFFS)).toBeNull();
    // A tariff from 11 February 2024 (a leap year: 29 days): 19 days covered, all at the same price.
    const late: Tariff[] = [{ energy: 'elec', from: '2024-02-11', to: null, eurosPerKWh: 0.2, source: 's' }];
    expect(priceMonth('elec', '2024-02', late)).toEqual({ eurosPerKWh: 0.2, source: 's' });
    // A promotion for the 10 last days of January over the whole-year contract: (21 · 0.2 + 10 · 0.1) / 31.
    const promo: Tariff[] = [
      ...late.map((t) => ({ ...t, from: '2024-01-01' })),
      { energy: 'elec', from: '2024-01-22', to: '2024-01-31', eurosPerKWh: 0.1, source: 'p' },
    ];
    expect(priceMonth('elec', '2024-01', promo)!.eurosPerKWh).toBe((21 * 0.2 + 10 * 0.1) / 31);
  });

  it('takes the factor of the year, else of the latest year before', () => {
    expect(factorFor('gas', 2024, ADEME_DEFAULT_FACTORS)!.kgCO2ePerKWh).toBe(0.227);
    expect(factorFor('elec', 2021, ADEME_DEFAULT_FACTORS)!.kgCO2ePerKWh).toBe(0.0599);
    expect(factorFor('elec', 2022, ADEME_DEFAULT_FACTORS)!.kgCO2ePerKWh).toBe(0.052);
    expect(factorFor('elec', 2030, ADEME_DEFAULT_FACTORS)!.year).toBe(2022);
    expect(factorFor('elec', 2010, ADEME_DEFAULT_FACTORS)).toBeNull();
    expect(factorFor('hydrogen', 2024, ADEME_DEFAULT_FACTORS)).toBeNull();
    expect(ADEME_DEFAULT_FACTORS.map((f) => f.energy).sort()).toEqual(['elec', 'elec', 'gas', 'heat', 'oil', 'wood']);
  });

  it('names the wrong tariff or month', () => {
    expect(() => priceMonth('elec', '2024-4', TARIFFS)).toThrow('price: month must be YYYY-MM, got "2024-4"');
    const bad = [{ ...TARIFFS[0]!, to: '2023-01-01' }];
    expect(() => priceMonth('elec', '2024-04', bad)).toThrow(
      'tariff 0 ("elec" from "2024-01-01"): to must be null or a date YYYY-MM-DD on or after from, got "2023-01-01"',
    );
    expect(() => priceMonth('elec', '2024-04', [{ ...TARIFFS[0]!, eurosPerKWh: -0.1 }])).toThrow('eurosPerKWh (€/kWh) must be a finite number ≥ 0, got -0.1');
  });
});
