import { describe, expect, it } from 'vitest';
import type { GatewayStatus } from './gateway-status.js';
import { formatAge, renderStatusPage } from './status-page.js';

const now = Date.parse('2026-12-01T12:00:00Z');
const status: GatewayStatus = {
  gateway: 'town-hall',
  nats: 'connected',
  devices: [
    {
      id: 'meter',
      plugin: 'modbus',
      state: 'ok',
      lastError: null,
      lastReadAt: '2026-12-01T11:59:55Z',
      cycles: 12,
      skipped: 0,
    } as GatewayStatus['devices'][number],
  ],
  points: [
    { point: 'meter.energy', time: now - 5000, value: 1234.5, quality: 'good' },
    { point: 'meter.power', time: now - 3 * 3600_000, value: null, quality: 'bad', reason: 'timeout <after> 2000 ms' },
  ],
  outbox: { depth: 42, dropped: 0, lastSeq: 7, lastForwardAt: '2026-12-01T11:59:50Z', lastError: null, stalled: null },
  config: {
    source: 'hub',
    revision: 7,
    appliedAt: '2026-12-01T10:00:00Z',
    lastError: { source: 'file', revision: 'abc', at: '2026-12-01T11:00:00Z', message: 'gateway.yaml:3:5 devices[0].interval: expected a duration' },
  },
  nodeRed: { url: 'http://127.0.0.1:1880', refused: 3 },
};

describe('the status page', () => {
  const page = renderStatusPage(status, now);

  it('lists bad points first, with their age and reason, escaped', () => {
    expect(page.indexOf('meter.power')).toBeLessThan(page.indexOf('meter.energy'));
    expect(page).toContain('<td class="n">3 h</td><td>timeout &#60;after&#62; 2000 ms</td>');
    expect(page).toContain('<td class="n">5 s</td>');
  });

  it('shows the outbox, the configuration running and the one refused, and Node-RED', () => {
    expect(page).toMatch(/Samples waiting in the outbox<\/th><td class="n">42</);
    expect(page).toContain('hub 7 — <span class="bad">refused: gateway.yaml:3:5 devices[0].interval: expected a duration</span>');
    expect(page).toContain('<a href="http://127.0.0.1:1880">http://127.0.0.1:1880</a> — <span class="bad">3 value(s) refused</span>');
    expect(renderStatusPage({ ...status, nodeRed: undefined }, now)).not.toContain('Node-RED');
  });

  it('says ages in the unit that reads at a glance', () => {
    expect([formatAge(0), formatAge(119_000), formatAge(120_000), formatAge(7_200_000), formatAge(3 * 86_400_000)]).toEqual([
      '0 s',
      '119 s',
      '2 min',
      '2 h',
      '3 d',
    ]);
  });
});
