/**
 * The gateways (`/passerelles`, operators and technicians): each gateway's latest message and
 * whether it is silent, then its points with their latest value, quality (in words and by an
 * icon) and age. A technician sees its sites' gateways only: the hub filters /api/status.
 */
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { useSession } from '../session.js';
import { LoadError, Loading, useLoad, View } from '../ui/view.js';

/** A gateway with nothing received for longer than this is silent (seconds). */
export const SILENT_AFTER_S = 300;

interface GatewayStatus {
  id: string;
  lastSeen: string | null;
  lastSeq: number;
  points: number;
}

type Quality = 'good' | 'uncertain' | 'bad' | 'stale';

interface PointStatus {
  gateway: string;
  id: string;
  name: string;
  unit: string | null;
  kind: string;
  lastTime: string | null;
  lastValue: number | string | boolean | null;
  lastQuality: Quality | null;
}

const QUALITY_ICONS: Record<Quality | 'none', string> = { good: '✓', uncertain: '!', bad: '✕', stale: '⌛', none: '?' };
const QUALITY_CLASS: Record<Quality | 'none', string> = { good: 'green', uncertain: 'amber', bad: 'red', stale: 'amber', none: 'unknown' };

/** Seconds since `iso`, at `now` (ms). */
function ageOf(iso: string | null, now: number): number | undefined {
  return iso ? Math.max(0, (now - Date.parse(iso)) / 1000) : undefined;
}

export function Gateways() {
  const { t, dateTime, age } = useI18n();
  const session = useSession();
  const status = useLoad(() => api.get<{ gateways: GatewayStatus[]; points: PointStatus[] }>('/api/status'), [session.user?.username], session.known);
  // Ages move on: redrawn every 30 s.
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 30_000);
    return () => clearInterval(timer);
  }, []);
  const busy = !session.known || status.loading;
  const gateways = status.data ? [...status.data.gateways].sort((a, b) => a.id.localeCompare(b.id)) : [];
  const sites = session.user?.role === 'technician' ? session.user.sites : null;
  return (
    <View name="gateways" busy={busy} title={t('gw.title')}>
      <h1>{t('gw.title')}</h1>
      <p class="lead">{t('gw.intro')}</p>
      <p>{t('gw.rule', { minutes: SILENT_AFTER_S / 60 })}</p>
      {sites && <p>{t('gw.sitesOnly', { sites: sites.join(', ') })}</p>}
      {status.error && <LoadError error={status.error} retry={status.reload} />}
      {busy && !status.data && <Loading />}
      {status.data && !gateways.length && <p>{t('gw.none')}</p>}
      {gateways.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption>{t('gw.listCaption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('gw.gateway')}</th>
                <th scope="col">{t('gw.lastSeen')}</th>
                <th scope="col">{t('gw.age')}</th>
                <th scope="col">{t('gw.state')}</th>
                <th scope="col" class="n">
                  {t('gw.points')}
                </th>
              </tr>
            </thead>
            <tbody>
              {gateways.map((g) => {
                const seconds = ageOf(g.lastSeen, now);
                const state = seconds === undefined ? 'never' : seconds > SILENT_AFTER_S ? 'silent' : 'ok';
                return (
                  <tr data-gateway={g.id} data-state={state}>
                    <th scope="row">
                      <a href={`#gw-${g.id}`}>{g.id}</a>
                    </th>
                    <td>{dateTime(g.lastSeen)}</td>
                    <td>{age(seconds)}</td>
                    <td>
                      <span class={`status status-${state === 'ok' ? 'green' : 'red'}`}>
                        <span class="status-icon" aria-hidden="true">
                          {state === 'ok' ? '✓' : '✕'}
                        </span>
                        <span class="status-text">{t(`gw.${state}` as MessageKey)}</span>
                      </span>
                    </td>
                    <td class="n">{g.points}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {gateways.map((g) => (
        <GatewayPoints gateway={g.id} points={status.data!.points.filter((p) => p.gateway === g.id)} now={now} />
      ))}
    </View>
  );
}

function GatewayPoints({ gateway, points, now }: { gateway: string; points: PointStatus[]; now: number }) {
  const { t, num, age } = useI18n();
  const value = (p: PointStatus) => {
    if (p.lastValue === null) return t('common.none');
    if (typeof p.lastValue === 'number') return num(p.lastValue, p.unit ?? undefined);
    if (typeof p.lastValue === 'boolean') return t(p.lastValue ? 'gw.true' : 'gw.false');
    return p.lastValue;
  };
  return (
    <section id={`gw-${gateway}`} aria-labelledby={`gw-${gateway}-title`} class="gateway-points">
      <h2 id={`gw-${gateway}-title`}>{t('gw.pointsOf', { gateway, count: points.length })}</h2>
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">{t('gw.pointsCaption', { gateway })}</caption>
          <thead>
            <tr>
              <th scope="col">{t('gw.point')}</th>
              <th scope="col">{t('gw.id')}</th>
              <th scope="col" class="n">
                {t('gw.lastValue')}
              </th>
              <th scope="col">{t('gw.quality')}</th>
              <th scope="col">{t('gw.valueAge')}</th>
            </tr>
          </thead>
          <tbody>
            {points.map((p) => {
              const quality = p.lastQuality ?? 'none';
              return (
                <tr data-point={p.id} data-quality={quality}>
                  <th scope="row">{p.name}</th>
                  <td>
                    <code>{p.id}</code>
                  </td>
                  <td class="n">{value(p)}</td>
                  <td>
                    <span class={`status status-${QUALITY_CLASS[quality]}`}>
                      <span class="status-icon" aria-hidden="true">
                        {QUALITY_ICONS[quality]}
                      </span>
                      <span class="status-text">{t(`gw.quality.${quality}` as MessageKey)}</span>
                    </span>
                  </td>
                  <td>{age(ageOf(p.lastTime, now))}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}
