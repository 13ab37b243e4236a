/**
 * The buildings the reader may see (`/batiments`; a technician only its sites': the hub filters),
 * with their site, usage, floor area, points, the age of their latest data and the quality of
 * their points' latest samples, each linking to its page.
 */
import { api } from '../api.js';
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { LoadError, Loading, useLoad, View } from '../ui/view.js';
import type { CatalogBuilding } from './scopes.js';
import type { StatusAnswer, StatusPoint } from './point.js';

export const QUALITIES = ['good', 'uncertain', 'bad', 'stale'] as const;

/** A building's points' latest samples: how many of each quality, and the newest time (ms). */
export function summarise(points: readonly StatusPoint[]): { counts: Record<string, number>; latest: number | null } {
  const counts: Record<string, number> = {};
  let latest: number | null = null;
  for (const p of points) {
    if (p.lastQuality) counts[p.lastQuality] = (counts[p.lastQuality] ?? 0) + 1;
    if (p.lastTime) latest = Math.max(latest ?? 0, Date.parse(p.lastTime));
  }
  return { counts, latest };
}

export function BuildingsPage() {
  const { t, num, age, label } = useI18n();
  const buildings = useLoad(() => api.get<CatalogBuilding[]>('/api/buildings'), []);
  const status = useLoad(() => api.get<StatusAnswer>('/api/status'), []);
  const busy = buildings.loading || status.loading;
  const now = Date.now();
  return (
    <View name="buildings" busy={busy} title={t('buildings.title')}>
      <h1>{t('buildings.title')}</h1>
      <p>{t('buildings.intro')}</p>
      {buildings.error && <LoadError error={buildings.error} retry={buildings.reload} />}
      {status.error && <LoadError error={status.error} retry={status.reload} />}
      {busy && !buildings.data && <Loading />}
      {buildings.data && !buildings.data.length && <p>{t('buildings.none')}</p>}
      {buildings.data && buildings.data.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption>{t('buildings.caption', { count: buildings.data.length })}</caption>
            <thead>
              <tr>
                <th scope="col">{t('common.building')}</th>
                <th scope="col">{t('common.site')}</th>
                <th scope="col">{t('buildings.usage')}</th>
                <th scope="col" class="n">
                  {t('buildings.area')}
                </th>
                <th scope="col" class="n">
                  {t('buildings.points')}
                </th>
                <th scope="col">{t('buildings.latest')}</th>
                <th scope="col">{t('buildings.quality')}</th>
              </tr>
            </thead>
            <tbody>
              {buildings.data.map((b) => {
                const { counts, latest } = summarise((status.data?.points ?? []).filter((p) => b.gateways.includes(p.gateway)));
                return (
                  <tr data-building={b.id}>
                    <th scope="row">
                      <a href={`/batiments/${encodeURIComponent(b.id)}`}>{b.name}</a>
                    </th>
                    <td>{b.site}</td>
                    <td>{label('usage', b.usage)}</td>
                    <td class="n">{num(b.areaM2, 'm²', 0)}</td>
                    <td class="n">{b.points}</td>
                    <td>{latest === null ? t('common.none') : age((now - latest) / 1000)}</td>
                    <td>
                      {QUALITIES.filter((q) => counts[q])
                        .map((q) => t('buildings.qualityCount', { count: counts[q]!, quality: t(`quality.${q}` as MessageKey) }))
                        .join(', ') || t('common.none')}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </View>
  );
}
