/**
 * The "Costs" section of a building's page (`/batiments/:key`), for the city's staff who may read
 * costs (director, elected, operator, agent; admin): a calendar year's spending of the building by
 * service and by nature with each one's share, its € per m² of heated floor area, and for each
 * service measured by a metric of the service data, its € per unit (€ per visitor received):
 * GET /api/costs?year=&scope=building:<key> (hub/src/costs/routes.ts). The year is the last whole
 * one unless the URL names another (`?costYear=2024`, one of the COST_YEARS_SHOWN before).
 *
 * Nothing is shown to a citizen, nor when the hub answers 401 or 403 (a role that may not read
 * costs): the section is absent rather than an error. Amounts are €, as the hub gives them to the cent.
 */
import { useLocation } from 'preact-iso';
import { api, ApiError, withQuery } from '../api.js';
import { CITY_TIMEZONE, useI18n } from '../i18n.js';
import { useSession, type Role } from '../session.js';
import { LoadError, Loading, useLoad, type Loaded } from '../ui/view.js';

/** Who reads costs (the hub's READERS in hub/src/costs/routes.ts; admin has every role). */
const COST_READERS: Role[] = ['director', 'elected', 'operator', 'agent'];
/** Whole years one may choose, the last whole one included. */
export const COST_YEARS_SHOWN = 10;

/** GET /api/costs: a year's spending of a scope (hub/src/costs/costs.ts SpendingReport). */
export interface CostsReport {
  year: number;
  scope: string;
  service: string | null;
  /** Heated floor area of the scope's buildings, m²; null when none has one. */
  areaM2: number | null;
  buildingsWithoutArea: string[];
  spending: { scope: string; service: string; nature: string; source: 'budget' | 'bills'; amountEur: number }[];
  services: {
    service: string;
    /** € in the year. */
    amountEur: number;
    /** € per m² of heated floor area. */
    eurPerM2: number | null;
    perUnit: { metric: string; unit: string; quantity: number; eurPerUnit: number | null } | null;
  }[];
  /** € in the year, every service. */
  totalEur: number;
  /** € per m², every service. */
  eurPerM2: number | null;
}

/** The city's last whole calendar year. */
export function lastWholeYear(now = Date.now()): number {
  return Number(new Intl.DateTimeFormat('en-CA', { timeZone: CITY_TIMEZONE, year: 'numeric' }).format(now)) - 1;
}

export interface BuildingCosts {
  /** Whether the person may read costs: false for a citizen and for a technician. */
  shown: boolean;
  /** The year shown (a calendar year of the city). */
  year: number;
  /** The years one may choose, newest first. */
  years: number[];
  setYear(year: number): void;
  report: Loaded<CostsReport>;
  /** True until the year's report (or its refusal) is in: the page stays aria-busy meanwhile. */
  busy: boolean;
}

/** Loads the costs of building `key` for the year the URL names, when the person may read them. */
export function useBuildingCosts(key: string): BuildingCosts {
  const session = useSession();
  const { query, path, route } = useLocation();
  const shown = session.can(...COST_READERS);
  const last = lastWholeYear();
  const years = Array.from({ length: COST_YEARS_SHOWN }, (_, i) => last - i);
  const asked = /^\d{4}$/.test(query.costYear ?? '') ? Number(query.costYear) : last;
  const year = years.includes(asked) ? asked : last;
  const report = useLoad(
    () => api.get<CostsReport>(withQuery('/api/costs', { year, scope: `building:${key}` })),
    [key, year, session.user?.username],
    session.known && shown,
  );
  const answered = !!report.error || (!report.loading && report.data?.year === year);
  return {
    shown,
    year,
    years,
    setYear: (y) => route(withQuery(path, { ...query, costYear: y === last ? undefined : y })),
    report,
    busy: !session.known || (shown && !answered),
  };
}

/** Whether the hub refused the person rather than failed: the section is then left out. */
function refused(error: ApiError | undefined): boolean {
  return !!error && (error.status === 401 || error.status === 403);
}

/** Amounts of the same service and nature (budget lines and bills) summed, to the cent. */
function byServiceAndNature(spending: CostsReport['spending']): Map<string, Map<string, number>> {
  const services = new Map<string, Map<string, number>>();
  for (const row of spending) {
    const natures = services.get(row.service) ?? new Map<string, number>();
    natures.set(row.nature, Math.round(((natures.get(row.nature) ?? 0) + row.amountEur) * 100) / 100);
    services.set(row.service, natures);
  }
  return services;
}

/** The section, for building `name`; nothing for a person who may not read costs. */
export function CostsSection({ costs, name }: { costs: BuildingCosts; name: string }) {
  const { t, eur, num, percent, label } = useI18n();
  const { report, year } = costs;
  if (!costs.shown || refused(report.error)) return null;
  const data = report.data?.year === year ? report.data : undefined;
  const share = (amount: number) => (data && data.totalEur !== 0 ? amount / data.totalEur : null);
  const serviceName = (s: string) => label('costs.service', s);
  const grouped = data ? byServiceAndNature(data.spending) : new Map<string, Map<string, number>>();

  return (
    <section aria-labelledby="costs" data-costs>
      <h2 id="costs">{t('costs.title')}</h2>
      <p>{t('costs.intro')}</p>
      <form class="filters no-print" onSubmit={(e) => e.preventDefault()}>
        <div>
          <label for="costs-year">{t('costs.year')}</label>
          <select id="costs-year" value={String(year)} onChange={(e) => costs.setYear(Number((e.target as HTMLSelectElement).value))}>
            {costs.years.map((y) => (
              <option value={String(y)}>{y}</option>
            ))}
          </select>
        </div>
      </form>
      {report.error && <LoadError error={report.error} retry={report.reload} />}
      {!data && !report.error && <Loading />}
      {data && !data.spending.length && <p data-costs-none>{t('costs.none', { year })}</p>}
      {data && data.spending.length > 0 && (
        <>
          <dl class="facts">
            <dt>{t('costs.total')}</dt>
            <dd data-costs-total={data.totalEur}>{eur(data.totalEur)}</dd>
            <dt>{t('costs.perM2')}</dt>
            <dd data-costs-eur-per-m2={data.eurPerM2 ?? ''}>
              {data.eurPerM2 === null ? t('costs.noArea') : t('costs.perM2Value', { amount: eur(data.eurPerM2, 2) })}
            </dd>
          </dl>

          <div class="table-wrap">
            <table data-costs-by-nature>
              <caption>{t('costs.byNatureCaption', { name, year })}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('costs.service')}</th>
                  <th scope="col">{t('costs.nature')}</th>
                  <th scope="col" class="n">
                    {t('costs.amount')}
                  </th>
                  <th scope="col" class="n">
                    {t('costs.share')}
                  </th>
                </tr>
              </thead>
              {[...grouped.entries()].map(([service, natures]) => (
                <tbody>
                  {[...natures.entries()].map(([nature, amount], i) => (
                    <tr data-service={service} data-nature={nature}>
                      {i === 0 && (
                        <th scope="rowgroup" rowSpan={natures.size}>
                          {serviceName(service)}
                        </th>
                      )}
                      <th scope="row">{label('costs.nature', nature)}</th>
                      <td class="n">{eur(amount)}</td>
                      <td class="n">{percent(share(amount), 1)}</td>
                    </tr>
                  ))}
                </tbody>
              ))}
              <tfoot>
                <tr>
                  <th scope="row" colSpan={2}>
                    {t('costs.totalRow')}
                  </th>
                  <td class="n">{eur(data.totalEur)}</td>
                  <td class="n">{percent(share(data.totalEur), 1)}</td>
                </tr>
              </tfoot>
            </table>
          </div>

          <div class="table-wrap">
            <table data-costs-by-service>
              <caption>{t('costs.byServiceCaption', { name, year })}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('costs.service')}</th>
                  <th scope="col" class="n">
                    {t('costs.amount')}
                  </th>
                  <th scope="col" class="n">
                    {t('costs.perM2')}
                  </th>
                  <th scope="col">{t('costs.measuredBy')}</th>
                  <th scope="col" class="n">
                    {t('costs.quantity')}
                  </th>
                  <th scope="col" class="n">
                    {t('costs.perUnit')}
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.services.map((s) => (
                  <tr data-service={s.service} data-eur-per-unit={s.perUnit?.eurPerUnit ?? ''}>
                    <th scope="row">{serviceName(s.service)}</th>
                    <td class="n">{eur(s.amountEur)}</td>
                    <td class="n">{eur(s.eurPerM2, 2)}</td>
                    <td>{s.perUnit ? s.perUnit.unit : t('costs.notMeasured')}</td>
                    <td class="n">{s.perUnit ? num(s.perUnit.quantity, undefined, 0) : t('common.none')}</td>
                    <td class="n">
                      {s.perUnit && s.perUnit.eurPerUnit !== null
                        ? t('costs.perUnitValue', { amount: eur(s.perUnit.eurPerUnit, 2), unit: s.perUnit.unit })
                        : t('common.none')}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
