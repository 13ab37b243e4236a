/**
 * Scopes as the reading pages name them (the city, a site, a building by its catalog name) and
 * a result's data completeness in words.
 */
import { api } from '../api.js';
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { parseScope, type Result } from '../objectives.js';
import { useLoad, type Loaded } from '../ui/view.js';

/** A catalog building as GET /api/buildings gives it. */
export interface CatalogBuilding {
  id: string;
  name: string;
  site: string;
  usage: string;
  areaM2: number | null;
  energyReferenceYear: number | null;
  gateways: string[];
  points: number;
}

export type BuildingNames = Map<string, CatalogBuilding>;

/** The catalog's buildings by key (for names and their sites), when `enabled`. */
export function useBuildingNames(enabled: boolean): Loaded<BuildingNames> {
  return useLoad(async () => new Map((await api.get<CatalogBuilding[]>('/api/buildings')).map((b) => [b.id, b])), [], enabled);
}

/** What a scope is called: the city, a site's key, a building's name. */
export function scopeName(scope: string, names: BuildingNames | undefined, t: (key: MessageKey, params?: Record<string, string | number>) => string): string {
  const { level, key } = parseScope(scope);
  if (level === 'city') return t('common.city');
  if (level === 'site') return t('objective.siteNamed', { site: key! });
  return names?.get(key!)?.name ?? key!;
}

/** Whether the data covers a result's period, in words. */
export function Completeness({ result }: { result: Result }) {
  const { t } = useI18n();
  if (result.dataComplete) return <span>{result.complete ? t('objective.dataComplete') : t('objective.dataCompleteSoFar')}</span>;
  return <span>{t('objective.dataGaps', { days: result.gaps.missingDays, hours: result.gaps.unbracketedHours })}</span>;
}
