/**
 * One building's page (`/batiments/:key`): its meters (main or sub, where their readings come
 * from: its gateway or a utility's Linky or Gazpar meter, and which one objectives read when an
 * energy is measured by both; latest value, quality, age),
 * its energy per m² over the last 12 months by energy, its tertiary-decree trajectory against its
 * reference year (chart and table), the completeness of its data over 7 and 30 days and the age
 * of its latest data: GET /api/buildings/:key; for staff who may read costs, what the building
 * cost in a year by service and nature, per m² and per unit of service (building-costs.tsx). A
 * hub without that route gives what its catalog, status and completeness say (no energy, no
 * trajectory).
 */
import { useRoute } from 'preact-iso';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, withQuery } from '../api.js';
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { Chart } from '../ui/chart.js';
import { NotFound } from '../ui/not-found.js';
import { LoadError, Loading, useLoad, View } from '../ui/view.js';
import { CostsSection, useBuildingCosts } from './building-costs.js';
import { isMeter, type StatusAnswer } from './point.js';
import type { CatalogBuilding } from './scopes.js';

interface Share {
  received: number;
  expected: number;
  /** 0..1; null when nothing was expected. */
  ratio: number | null;
}

interface EnergyPeriod {
  from: string;
  to: string;
  months: number;
  monthsWithData: number;
  energies: { energy: string; kWh: number | null; kWhPerM2: number | null }[];
}

/** Where a meter's readings come from: the building's gateway (BMS) or a utility's delivery point. */
export interface MeterSource {
  kind: 'bms' | 'utility';
  utility: string | null;
  /** The PRM (Enedis) or PCE (GRDF) of a utility's meter. */
  deliveryPoint: string | null;
  /** Whether objectives that name no source read this meter; unknown to a hub without the building route. */
  read?: boolean;
}

/** The source of a meter of `gateway`: a utility's delivery point is `utility:<utility>:<id>`, which no gateway can be. */
export function sourceOfGateway(gateway: string): MeterSource {
  if (!gateway.startsWith('utility:')) return { kind: 'bms', utility: null, deliveryPoint: null };
  const [, utility, deliveryPoint] = gateway.split(':');
  return { kind: 'utility', utility: utility ?? null, deliveryPoint: deliveryPoint ?? null };
}

/** GET /api/buildings/:key. */
export interface BuildingAnswer {
  key: string;
  name: string;
  site: string;
  siteName?: string;
  usage: string;
  areaM2: number | null;
  energyReferenceYear: number | null;
  address?: string | null;
  meters: {
    gateway: string;
    point: string;
    name: string;
    unit: string | null;
    energy: string | null;
    role: 'main' | 'sub' | null;
    lastValue: number | null;
    lastTime: string | null;
    quality: string | null;
    ageSeconds: number | null;
    /** Where its readings come from (a hub without it: taken from the gateway's id). */
    source?: MeterSource;
  }[];
  energy: { last12Months: EnergyPeriod; yearToDate: EnergyPeriod } | null;
  trajectory: {
    referenceYear: number;
    basis: 'normalised' | 'raw';
    targets: { year: number; change: number; kWh: number | null }[];
    years: { year: number; kWh: number | null; normalisedKWh: number | null; targetKWh: number | null; complete: boolean }[];
  } | null;
  completeness: { last7Days: Share; last30Days: Share };
  latestSample: { time: string | null; ageSeconds: number | null };
}

/** The page from the catalog, the status and the completeness, for a hub without GET /api/buildings/:key. */
async function fromCatalog(key: string): Promise<BuildingAnswer | undefined> {
  const now = Date.now();
  const day = 86_400_000;
  const today = Math.floor(now / day) * day;
  const [buildings, status, days] = await Promise.all([
    api.get<CatalogBuilding[]>('/api/buildings'),
    api.get<StatusAnswer>('/api/status'),
    api.get<{ key: string; received: number; expected: number }[]>(
      withQuery('/api/completeness', { by: 'building', step: 'day', from: new Date(today - 30 * day).toISOString(), to: new Date(today).toISOString() }),
    ),
  ]);
  const b = buildings.find((x) => x.id === key);
  if (!b) return undefined;
  const points = status.points.filter((p) => b.gateways.includes(p.gateway));
  const ageOf = (time: string | null) => (time ? Math.max(0, Math.round((now - Date.parse(time)) / 1000)) : null);
  const latest = points.reduce<string | null>((l, p) => (p.lastTime && (!l || p.lastTime > l) ? p.lastTime : l), null);
  const mine = days.filter((d) => d.key === key);
  const share = (rows: typeof mine): Share => {
    const received = rows.reduce((s, r) => s + r.received, 0);
    const expected = rows.reduce((s, r) => s + r.expected, 0);
    return { received, expected, ratio: expected > 0 ? Math.min(1, received / expected) : null };
  };
  return {
    key,
    name: b.name,
    site: b.site,
    usage: b.usage,
    areaM2: b.areaM2,
    energyReferenceYear: b.energyReferenceYear,
    meters: points
      .filter((p) => isMeter(p.tags))
      .map((p) => ({
        gateway: p.gateway,
        point: p.id,
        name: p.name,
        unit: p.unit,
        energy: null,
        role: p.tags.includes('submeter') ? 'sub' : null,
        lastValue: typeof p.lastValue === 'number' ? p.lastValue : null,
        lastTime: p.lastTime,
        quality: p.lastQuality,
        ageSeconds: ageOf(p.lastTime),
        source: sourceOfGateway(p.gateway),
      })),
    energy: null,
    trajectory: null,
    completeness: { last7Days: share(mine.slice(-7)), last30Days: share(mine) },
    latestSample: { time: latest, ageSeconds: ageOf(latest) },
  };
}

async function loadBuilding(key: string): Promise<BuildingAnswer | undefined> {
  try {
    return await api.get<BuildingAnswer>(`/api/buildings/${encodeURIComponent(key)}`);
  } catch (error) {
    // NOT_FOUND: the hub has no such route (an unknown building is answered without that code).
    if (error instanceof ApiError && error.status === 404 && error.code === 'NOT_FOUND') return fromCatalog(key);
    if (error instanceof ApiError && error.status === 404) return undefined;
    throw error;
  }
}

export function BuildingPage() {
  const { params } = useRoute();
  const key = params.key ?? '';
  const { t, num, percent, age, dateTime, label, lang } = useI18n();
  const building = useLoad(() => loadBuilding(key), [key]);
  const b = building.data;
  const costs = useBuildingCosts(key);
  const [drawn, setDrawn] = useState(false);
  useEffect(() => setDrawn(false), [key]);
  if (!building.loading && !building.error && !b) return <NotFound />;
  const trajectory = b?.trajectory;
  const busy = building.loading || costs.busy || (!!trajectory?.years.length && !drawn);
  const energyName = (e: string | null) => (e ? t(`energy.${e}` as MessageKey) : t('common.none'));
  const sourceOf = (m: BuildingAnswer['meters'][number]) => m.source ?? sourceOfGateway(m.gateway);
  const sourceName = (m: BuildingAnswer['meters'][number]) => {
    const s = sourceOf(m);
    if (s.kind === 'bms') return t('building.source.bms', { gateway: m.gateway });
    const who = s.utility === 'enedis' || s.utility === 'grdf' ? s.utility : 'other';
    return t(`building.source.${who}`, { id: s.deliveryPoint ?? m.gateway });
  };
  // Energies measured both by the building's gateway and by a utility: objectives read one of them.
  const measuredTwice = new Set(
    (b?.meters ?? [])
      .filter((m) => m.energy && sourceOf(m).kind === 'utility')
      .map((m) => m.energy!)
      .filter((e) => b!.meters.some((o) => o.energy === e && sourceOf(o).kind === 'bms')),
  );
  const list = new Intl.ListFormat(lang === 'fr' ? 'fr-FR' : 'en-GB', { type: 'conjunction' });

  return (
    <View name="building" busy={busy} title={b?.name ?? t('building.title')}>
      {building.error && <LoadError error={building.error} retry={building.reload} />}
      {!b && !building.error && <Loading />}
      {b && (
        <>
          <h1>{b.name}</h1>
          <dl class="facts">
            <dt>{t('common.site')}</dt>
            <dd>{b.siteName ?? b.site}</dd>
            <dt>{t('buildings.usage')}</dt>
            <dd>{label('usage', b.usage)}</dd>
            <dt>{t('buildings.area')}</dt>
            <dd>{num(b.areaM2, 'm²', 0)}</dd>
            <dt>{t('building.referenceYear')}</dt>
            <dd>{b.energyReferenceYear ?? t('common.none')}</dd>
            {b.address && (
              <>
                <dt>{t('building.address')}</dt>
                <dd>{b.address}</dd>
              </>
            )}
          </dl>
          <div class="no-print page-tools">
            <button type="button" class="secondary" onClick={() => window.print()}>
              {t('app.print')}
            </button>
          </div>

          <section aria-labelledby="data-quality">
            <h2 id="data-quality">{t('building.data')}</h2>
            <ul>
              <li data-latest>
                {b.latestSample.time
                  ? t('building.latest', { age: age(b.latestSample.ageSeconds), time: dateTime(b.latestSample.time) })
                  : t('building.noData')}
              </li>
              <li>{t('building.completeness', { days: 7, ratio: percent(b.completeness.last7Days.ratio) })}</li>
              <li>{t('building.completeness', { days: 30, ratio: percent(b.completeness.last30Days.ratio) })}</li>
            </ul>
          </section>

          <section aria-labelledby="meters">
            <h2 id="meters">{t('building.meters')}</h2>
            {measuredTwice.size > 0 && <p data-measured-twice>{t('building.sourcesBoth', { energies: list.format([...measuredTwice].map(energyName)) })}</p>}
            {b.meters.length ? (
              <div class="table-wrap">
                <table>
                  <caption class="visually-hidden">{t('building.meters')}</caption>
                  <thead>
                    <tr>
                      <th scope="col">{t('building.meter')}</th>
                      <th scope="col">{t('building.energy')}</th>
                      <th scope="col">{t('building.role')}</th>
                      <th scope="col">{t('building.source')}</th>
                      <th scope="col" class="n">
                        {t('building.lastValue')}
                      </th>
                      <th scope="col">{t('buildings.quality')}</th>
                      <th scope="col">{t('building.age')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {b.meters.map((m) => {
                      const source = sourceOf(m);
                      return (
                        <tr data-meter={`${m.gateway}/${m.point}`} data-source={source.kind}>
                          <th scope="row">
                            <a href={`/points/${encodeURIComponent(m.gateway)}/${encodeURIComponent(m.point)}`}>{m.name}</a>
                          </th>
                          <td>{energyName(m.energy)}</td>
                          <td>{m.role ? t(`building.role.${m.role}` as MessageKey) : t('common.none')}</td>
                          <td>
                            {sourceName(m)}
                            {m.energy && measuredTwice.has(m.energy) && source.read !== undefined && (
                              <span class="hint cell-line" data-read={source.read ? 'true' : 'false'}>
                                {t(source.read ? 'building.source.read' : 'building.source.notRead')}
                              </span>
                            )}
                          </td>
                          <td class="n">{num(m.lastValue, m.unit ?? undefined)}</td>
                          <td>{m.quality ? t(`quality.${m.quality}` as MessageKey) : t('common.none')}</td>
                          <td>{m.lastTime ? age(m.ageSeconds) : t('common.none')}</td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
            ) : (
              <p>{t('building.noMeters')}</p>
            )}
          </section>

          {b.energy && (
            <section aria-labelledby="energy">
              <h2 id="energy">{t('building.energyTitle')}</h2>
              <div class="table-wrap">
                <table>
                  <caption>
                    {t('building.energyCaption', {
                      from: b.energy.last12Months.from,
                      to: b.energy.last12Months.to,
                      with: b.energy.last12Months.monthsWithData,
                      months: b.energy.last12Months.months,
                    })}
                  </caption>
                  <thead>
                    <tr>
                      <th scope="col">{t('building.energy')}</th>
                      <th scope="col" class="n">
                        kWh
                      </th>
                      <th scope="col" class="n">
                        kWh/m²
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {b.energy.last12Months.energies.map((e) => (
                      <tr data-energy={e.energy}>
                        <th scope="row">{e.energy === 'total' ? t('building.total') : energyName(e.energy)}</th>
                        <td class="n">{num(e.kWh, undefined, 0)}</td>
                        <td class="n">{num(e.kWhPerM2)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </section>
          )}

          <CostsSection costs={costs} name={b.name} />

          <section aria-labelledby="trajectory">
            <h2 id="trajectory">{t('building.trajectory')}</h2>
            {trajectory ? (
              <>
                <p>
                  {t('building.trajectoryIntro', { year: trajectory.referenceYear })} {t(`building.basis.${trajectory.basis}` as MessageKey)}{' '}
                  {trajectory.targets.map((s) => t('building.step', { year: s.year, change: percent(s.change), kWh: num(s.kWh, 'kWh', 0) })).join(' ; ')}
                </p>
                {trajectory.years.length > 0 && (
                  <Chart
                    title={t('building.trajectoryChart', { name: b.name })}
                    unit="kWh"
                    x={{ kind: 'category', labels: trajectory.years.map((y) => (y.complete ? String(y.year) : t('building.yearSoFar', { year: y.year }))) }}
                    series={[
                      { label: t('building.measured'), values: trajectory.years.map((y) => y.kWh), style: 'bar' },
                      { label: t('building.normalised'), values: trajectory.years.map((y) => y.normalisedKWh) },
                      { label: t('objective.trajectory'), values: trajectory.years.map((y) => y.targetKWh), style: 'dashed' },
                    ]}
                    onDrawn={() => setDrawn(true)}
                  />
                )}
              </>
            ) : (
              <p>{b.energy === null ? t('building.trajectoryUnavailable') : t('building.noReferenceYear')}</p>
            )}
          </section>
        </>
      )}
    </View>
  );
}
