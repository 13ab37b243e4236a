import type { Sample } from '@citypilot/sdk';
import type { GatewayStatus } from './gateway-status.js';

/**
 * The technician's status page: what `/api/status` says, as a page that refreshes itself every
 * 5 s — NATS, the outbox, each device, and each point with its last value, quality and age
 * (`now` minus the sample's time), problems first.
 */
export function renderStatusPage(status: GatewayStatus, now: number): string {
  const devices = status.devices
    .map(
      (d) =>
        `<tr class="${d.state === 'failing' ? 'bad' : ''}"><td>${esc(d.id)}</td><td>${esc(d.plugin)}</td><td>${esc(d.state)}</td>` +
        `<td>${esc(d.lastReadAt ?? '')}</td><td class="n">${d.cycles}</td><td class="n">${d.skipped}</td><td>${esc([d.lastError ?? '', ...(d.notes ?? [])].filter(Boolean).join(' — '))}</td></tr>`,
    )
    .join('');
  const rank = (s: Sample) => ({ bad: 0, stale: 1, uncertain: 2, good: 3 })[s.quality];
  const points = [...status.points]
    .sort((a, b) => rank(a) - rank(b) || a.point.localeCompare(b.point))
    .map(
      (p) =>
        `<tr class="${p.quality === 'good' ? '' : p.quality === 'uncertain' ? 'warn' : 'bad'}"><td>${esc(p.point)}</td>` +
        `<td class="n">${esc(formatValue(p.value))}</td><td>${esc(p.quality)}</td><td class="n">${esc(formatAge(now - p.time))}</td><td>${esc(p.reason ?? '')}</td></tr>`,
    )
    .join('');
  const { outbox } = status;
  const nats = status.nats + (status.natsError ? ` — ${status.natsError}` : '');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5"><title>CityPilot gateway ${esc(status.gateway)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse;margin-bottom:2rem}
td,th{border-bottom:1px solid #ddd;padding:.3rem .8rem;text-align:left}.n{text-align:right}.bad{background:#fde8e8}.warn{background:#fdf6e3}</style></head><body>
<h1>CityPilot gateway ${esc(status.gateway)}</h1>
<p>JSON: <a href="/api/status">/api/status</a> · <a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a></p>
<h2>Hub link</h2><table>
<tr><th>NATS</th><td class="${status.nats === 'connected' ? '' : 'bad'}">${esc(nats)}</td></tr>
<tr><th>Samples waiting in the outbox</th><td class="n">${outbox.depth}</td></tr>
<tr><th>Samples refused (outbox full)</th><td class="n${outbox.dropped ? ' bad' : ''}">${outbox.dropped}</td></tr>
<tr><th>Last forward to the hub</th><td>${esc(outbox.lastForwardAt ?? 'never')}${outbox.lastForwardAt ? ` (${esc(formatAge(now - Date.parse(outbox.lastForwardAt)))} ago)` : ''}</td></tr>
<tr><th>Last batch acknowledged</th><td class="n">${outbox.lastSeq ?? ''}</td></tr>
<tr><th>Forwarding error</th><td>${esc(outbox.lastError ?? '')}</td></tr>
<tr><th>Forwarding stalled</th><td class="${outbox.stalled ? 'bad' : ''}">${esc(outbox.stalled ?? 'no')}</td></tr>
<tr><th>Configuration</th><td>${esc(`${status.config.source} ${status.config.revision}`)}${status.config.lastError ? ` — <span class="bad">refused: ${esc(status.config.lastError.message)}</span>` : ''}</td></tr>
${status.nodeRed ? `<tr><th>Node-RED</th><td><a href="${esc(status.nodeRed.url)}">${esc(status.nodeRed.url)}</a>${status.nodeRed.refused ? ` — <span class="bad">${status.nodeRed.refused} value(s) refused</span>` : ''}</td></tr>` : ''}</table>
<h2>Devices</h2><table><tr><th>Device</th><th>Plugin</th><th>State</th><th>Last read</th><th>Cycles</th><th>Skipped</th><th>Last error</th></tr>${devices}</table>
<h2>Points</h2><table><tr><th>Point</th><th>Last value</th><th>Quality</th><th>Age</th><th>Reason</th></tr>${points}</table>
</body></html>`;
}

/** `42 s`, `3 min`, `5 h`, `2 d`: enough to see at a glance that a value is old. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

function formatValue(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(3);
  return value === null || value === undefined ? '' : String(value);
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
