import { describe, expect, it } from 'vitest';
import { netInvestment, netPresentValue, paybackDate, returnOnInvestment, simplePayback } from './finance.js';

describe('project finance', () => {
  it('works the relamping example out as by hand', () => {
    // Investment 120,000 €, energy-savings certificates (CEE) 20,000 €: net 100,000 €.
    // Savings 14,000 €/year less 2,000 €/year of running cost: 12,000 €/year net.
    // Payback 100,000 / 12,000 = 8.333… years. Return over 20 years (240,000 − 100,000) / 100,000 = 1.4.
    // NPV at 4 % over 20 years: −100,000 + 12,000 · (1 − 1.04^−20) / 0.04
    //   1.04^20 = 2.191123…, 1 − 1/2.191123 = 0.543613…, / 0.04 = 13.590326…: NPV ≈ 63,083.91 €.
    const net = netInvestment({ investment: 120_000, yearlyRunningCost: 2_000, subsidies: [{ name: 'CEE', amount: 20_000 }] });
    expect(net).toBe(100_000);
    const yearly = 14_000 - 2_000;
    expect(simplePayback(net, yearly)).toBeCloseTo(100_000 / 12_000, 6);
    expect(simplePayback(net, yearly)).toBeCloseTo(8.333333, 6);
    expect(returnOnInvestment(net, yearly, 20)).toBeCloseTo(1.4, 6);
    expect(netPresentValue(net, yearly, 20, 0.04)).toBeCloseTo(-100_000 + (12_000 * (1 - 1.04 ** -20)) / 0.04, 6);
    expect(netPresentValue(net, yearly, 20, 0.04)).toBeCloseTo(63_083.91, 1);
    // At a rate of 0, the NPV is the plain sum: −100,000 + 20 · 12,000.
    expect(netPresentValue(net, yearly, 20, 0)).toBe(140_000);
  });

  it('has no payback without savings, and nothing to pay back when subsidies cover everything', () => {
    expect(simplePayback(100_000, 0)).toBeNull();
    expect(simplePayback(100_000, -5)).toBeNull();
    expect(simplePayback(0, 10)).toBe(0);
    expect(returnOnInvestment(0, 10, 5)).toBeNull();
    expect(
      netInvestment({
        investment: 10,
        yearlyRunningCost: 0,
        subsidies: [
          { name: 'DSIL', amount: 6 },
          { name: 'Région', amount: 6 },
        ],
      }),
    ).toBe(-2);
  });

  it('finds the month the savings paid the investment back', () => {
    // Net 1,000 €; works end 20 June 2024, so June does not count; 300 € a month from July:
    // 300, 600, 900, 1,200 → reached in October 2024.
    const months = ['2024-06', '2024-07', '2024-08', '2024-09', '2024-10', '2024-11'].map((period) => ({ period, euros: period === '2024-06' ? 500 : 300 }));
    expect(paybackDate(1_000, '2024-06-20', months)).toEqual({ date: '2024-10', reached: true });
    expect(paybackDate(-5, '2024-06-20', months)).toEqual({ date: '2024-06', reached: true });
  });

  it('extrapolates the payback at the pace of the last 12 months', () => {
    // Net 10,000 €; 2 months at 1,000 € then 12 at 400 € (July 2024 to August 2025): 6,800 € so far.
    // Pace: mean of the last 12 months = 400 €/month; 3,200 € left = 8 months after August 2025: April 2026.
    const months = Array.from({ length: 14 }, (_, k) => ({
      period: `${2024 + Math.floor((6 + k) / 12)}-${String(((6 + k) % 12) + 1).padStart(2, '0')}`,
      euros: k < 2 ? 1000 : 400,
    }));
    expect(months[13]!.period).toBe('2025-08');
    expect(paybackDate(10_000, '2024-06-30', [...months].reverse())).toEqual({ date: '2026-04', reached: false });
    // A pace ≤ 0 (the last 12 months cost more than they saved) says no date.
    const losing = months.map((m, k) => ({ ...m, euros: k < 2 ? 1000 : -10 }));
    expect(paybackDate(10_000, '2024-06-30', losing)).toEqual({ date: null, reached: false });
    expect(paybackDate(10_000, '2024-06-30', [])).toEqual({ date: null, reached: false });
  });

  it('names what is wrong', () => {
    expect(() => netInvestment({ investment: NaN, yearlyRunningCost: 0, subsidies: [] })).toThrow('costs: investment (€) must be a finite number ≥ 0, got NaN');
    expect(() => netInvestment({ investment: 1, yearlyRunningCost: 0, subsidies: [{ name: 'CEE', amount: -1 }] })).toThrow(
      'costs: subsidy 0 ("CEE"): amount (€) must be a finite number ≥ 0, got -1',
    );
    expect(() => netPresentValue(1, 1, 2.5, 0.04)).toThrow('net present value: years must be a whole number from 0 to 100, got 2.5');
    expect(() => netPresentValue(1, 1, 2, -1)).toThrow('net present value: discount rate (fraction per year) must be a finite number > -1, got -1');
    expect(() => paybackDate(1, '2024-02-30', [])).toThrow('payback date: worksEnd must be a date YYYY-MM-DD, got "2024-02-30"');
    expect(() => paybackDate(1, '2024-02-01', [{ period: '2024-13', euros: 1 }])).toThrow(
      'monthly net savings 0: period must be a month YYYY-MM, got "2024-13"',
    );
  });
});
