/**
 * The datasets the city may publish, each produced by one SQL query over the hub's own tables.
 * The query's FROM clause carries the publication guards (published objectives' current
 * versions, published projects, points marked public): nothing else can reach a download, a
 * page of the API or the catalogue, which all read through these definitions.
 */

import { w, type DatasetDefinition } from './dataset-types.js';
import { buildingEnergy, pointHourly, projectSavings } from './datasets-energy.js';

export { fieldOutput, sqlType, type DatasetDefinition, type DatasetField, type FieldType, type Words } from './dataset-types.js';

const objectiveResults: DatasetDefinition = {
  id: 'objective-results',
  title: w('Résultats des objectifs de la ville', "Results of the city's objectives"),
  description: w(
    'Pour chaque objectif publié (énergie, qualité de service, éclairage public…), sa valeur, sa cible et son statut par période (mois, trimestre, année) et par périmètre (ville, site, bâtiment), tels que le tableau de bord les montre.',
    'For each published objective (energy, quality of service, public lighting…), its value, target and status per period (month, quarter, year) and scope (city, site, building), as the dashboard shows them.',
  ),
  keywords: {
    fr: ['indicateurs', 'objectifs', 'performance publique', 'énergie', 'qualité de service'],
    en: ['indicators', 'objectives', 'public performance', 'energy', 'quality of service'],
  },
  theme: 'GOVE',
  frequency: 'DAILY',
  from: (tz) =>
    `FROM objective_results r JOIN objectives o ON o.id = r.objective_id
      CROSS JOIN LATERAL (SELECT (r.period_start AT TIME ZONE ${tz})::date AS first_day, ((r.period_end AT TIME ZONE ${tz})::date - 1) AS last_day) d
     WHERE o.superseded_at IS NULL AND o.published`,
  key: ['objective', 'scope', 'period_first_day'],
  version: `SELECT greatest(max(r.computed_at), max(o.created_at)) AS modified, count(DISTINCT o.id)::text AS tag
              FROM objectives o LEFT JOIN objective_results r ON r.objective_id = o.id WHERE o.superseded_at IS NULL AND o.published`,
  temporal: 'period_first_day',
  // To the last day of the last period, not its first.
  coverage: (tz) => `SELECT min(d.first_day) AS from, max(d.last_day) AS to ${objectiveResults.from(tz)}`,
  fields: [
    {
      name: 'objective',
      type: 'string',
      sql: 'o.key',
      required: true,
      title: w('Objectif', 'Objective'),
      description: w("Identifiant de l'objectif", "The objective's identifier"),
    },
    {
      name: 'label_fr',
      type: 'string',
      sql: "o.definition->'label'->>'fr'",
      required: true,
      title: w('Libellé (français)', 'Label (French)'),
      description: w("Nom de l'objectif en français", "The objective's name in French"),
    },
    {
      name: 'label_en',
      type: 'string',
      sql: "o.definition->'label'->>'en'",
      required: true,
      title: w('Libellé (anglais)', 'Label (English)'),
      description: w("Nom de l'objectif en anglais", "The objective's name in English"),
    },
    {
      name: 'theme',
      type: 'string',
      sql: "o.definition->>'theme'",
      required: true,
      title: w('Thème', 'Theme'),
      description: w('Thème de l’objectif (energy, reception, lighting…)', 'Theme of the objective (energy, reception, lighting…)'),
    },
    {
      name: 'scope',
      type: 'string',
      sql: 'r.scope',
      required: true,
      title: w('Périmètre', 'Scope'),
      description: w(
        'city (la ville), site:<clé> ou building:<clé> (clés du jeu buildings)',
        'city, site:<key> or building:<key> (keys of the buildings dataset)',
      ),
    },
    {
      name: 'level',
      type: 'string',
      sql: 'r.level',
      required: true,
      enum: ['city', 'site', 'building'],
      title: w('Niveau', 'Level'),
      description: w('Niveau du périmètre', "The scope's level"),
    },
    {
      name: 'period',
      type: 'string',
      sql: 'r.period',
      required: true,
      title: w('Période', 'Period'),
      description: w('Mois (2026-10), trimestre (2026-Q4) ou année (2026)', 'Month (2026-10), quarter (2026-Q4) or year (2026)'),
    },
    {
      name: 'period_first_day',
      type: 'date',
      sql: 'd.first_day',
      required: true,
      title: w('Premier jour', 'First day'),
      description: w('Premier jour local de la période', "The period's first local day"),
    },
    {
      name: 'period_last_day',
      type: 'date',
      sql: 'd.last_day',
      required: true,
      title: w('Dernier jour', 'Last day'),
      description: w('Dernier jour local de la période, inclus', "The period's last local day, included"),
    },
    {
      name: 'value',
      type: 'number',
      sql: 'r.value',
      title: w('Valeur', 'Value'),
      description: w(
        "Valeur de l'indicateur (jusqu'ici pour une période en cours), dans l'unité de la colonne unit ; vide : inconnue",
        'The KPI (so far for a period in progress), in the unit of column unit; empty: unknown',
      ),
    },
    {
      name: 'target',
      type: 'number',
      sql: 'r.target',
      title: w('Cible', 'Target'),
      description: w("Cible de la période, dans l'unité de la colonne unit", "The period's target, in the unit of column unit"),
    },
    {
      name: 'unit',
      type: 'string',
      sql: "o.definition->>'unit'",
      required: true,
      title: w('Unité', 'Unit'),
      description: w('Unité de value et target', 'Unit of value and target'),
    },
    {
      name: 'status',
      type: 'string',
      sql: 'r.status',
      required: true,
      enum: ['green', 'amber', 'red', 'unknown'],
      title: w('Statut', 'Status'),
      description: w(
        'green : atteint ; amber : proche ; red : non atteint ; unknown : données insuffisantes',
        'green: met; amber: close; red: not met; unknown: not enough data',
      ),
    },
    {
      name: 'complete',
      type: 'boolean',
      sql: 'r.complete',
      required: true,
      title: w('Période terminée', 'Period over'),
      description: w('true une fois la période terminée', 'true once the period is over'),
    },
    {
      name: 'missing_days',
      type: 'integer',
      sql: 'r.missing_days',
      required: true,
      unit: 'd',
      title: w('Jours sans données', 'Days without data'),
      description: w('Jours locaux de la période écoulés sans données', 'Local days of the period gone by without data'),
    },
  ],
};

const serviceIndicators: DatasetDefinition = {
  id: 'service-indicators-monthly',
  title: w('Indicateurs de qualité des services par mois', 'Service quality indicators per month'),
  description: w(
    'Les données de service saisies ou importées par les services de la ville (temps d’attente à l’accueil, appels décrochés, visiteurs…), agrégées par mois local, indicateur et périmètre : nombre de valeurs, somme, moyenne, minimum et maximum.',
    "The service data the city's services enter or import (waiting time at reception, calls answered, visitors…), aggregated per local month, indicator and scope: number of values, sum, mean, minimum and maximum.",
  ),
  keywords: {
    fr: ['qualité de service', 'accueil', 'temps d’attente', 'appels', 'fréquentation'],
    en: ['quality of service', 'reception', 'waiting time', 'calls', 'visitors'],
  },
  theme: 'GOVE',
  frequency: 'MONTHLY',
  from: (tz) =>
    `FROM (SELECT metric, scope, date_trunc('month', period_start AT TIME ZONE ${tz})::date AS month,
                  count(*) AS n, sum(value) AS sum, avg(value) AS mean, min(value) AS min, max(value) AS max
             FROM service_values WHERE superseded_at IS NULL GROUP BY 1, 2, 3) s WHERE true`,
  key: ['metric', 'scope', 'month'],
  version: `SELECT max(coalesce(superseded_at, submitted_at)) AS modified, count(*) FILTER (WHERE superseded_at IS NULL)::text AS tag FROM service_values`,
  temporal: 'month',
  fields: [
    {
      name: 'metric',
      type: 'string',
      sql: 's.metric',
      required: true,
      title: w('Indicateur', 'Indicator'),
      description: w('Nom de l’indicateur (reception.waiting_time, calls.answered…)', "The indicator's name (reception.waiting_time, calls.answered…)"),
    },
    {
      name: 'scope',
      type: 'string',
      sql: 's.scope',
      required: true,
      title: w('Périmètre', 'Scope'),
      description: w('city, site:<clé> ou building:<clé>', 'city, site:<key> or building:<key>'),
    },
    {
      name: 'month',
      type: 'yearmonth',
      sql: 's.month',
      required: true,
      title: w('Mois', 'Month'),
      description: w('Mois local (AAAA-MM)', 'Local month (YYYY-MM)'),
    },
    {
      name: 'values',
      type: 'integer',
      sql: 's.n::integer',
      required: true,
      title: w('Nombre de valeurs', 'Number of values'),
      description: w('Valeurs saisies pour le mois (jours, mois ou instants)', 'Values entered for the month (days, months or instants)'),
    },
    {
      name: 'sum',
      type: 'number',
      sql: 's.sum',
      required: true,
      title: w('Somme', 'Sum'),
      description: w('Somme des valeurs (pour un compte : le total du mois)', 'Sum of the values (for a count: the month’s total)'),
    },
    {
      name: 'mean',
      type: 'number',
      sql: 'round(s.mean::numeric, 6)::float8',
      required: true,
      title: w('Moyenne', 'Mean'),
      description: w('Moyenne simple des valeurs (pour une durée : la moyenne du mois)', 'Plain mean of the values (for a duration: the month’s mean)'),
    },
    { name: 'min', type: 'number', sql: 's.min', required: true, title: w('Minimum', 'Minimum'), description: w('Plus petite valeur', 'Least value') },
    { name: 'max', type: 'number', sql: 's.max', required: true, title: w('Maximum', 'Maximum'), description: w('Plus grande valeur', 'Greatest value') },
  ],
};

const buildings: DatasetDefinition = {
  id: 'buildings',
  title: w('Bâtiments publics de la ville', "The city's public buildings"),
  description: w(
    'Le patrimoine bâti suivi par la ville : chaque bâtiment avec son site, son usage, sa surface chauffée, son adresse, ses coordonnées et son identifiant au Référentiel national des bâtiments (RNB) quand il est connu.',
    'The buildings the city monitors: each with its site, usage, heated floor area, address, coordinates and national building register (RNB) identifier where known.',
  ),
  keywords: { fr: ['bâtiments publics', 'patrimoine', 'équipements publics', 'RNB'], en: ['public buildings', 'estate', 'public facilities', 'RNB'] },
  theme: 'REGI',
  frequency: 'IRREG',
  from: () => `FROM buildings b JOIN sites s ON s.id = b.site_id WHERE true`,
  key: ['building'],
  version: `SELECT NULL::timestamptz AS modified, md5(string_agg(b::text, '|' ORDER BY b.key)) AS tag FROM buildings b`,
  fields: [
    {
      name: 'building',
      type: 'string',
      sql: 'b.key',
      required: true,
      title: w('Bâtiment', 'Building'),
      description: w('Clé du bâtiment', "The building's key"),
    },
    { name: 'name', type: 'string', sql: 'b.name', required: true, title: w('Nom', 'Name'), description: w('Nom du bâtiment', "The building's name") },
    { name: 'site', type: 'string', sql: 's.key', required: true, title: w('Site', 'Site'), description: w('Clé du site', "The site's key") },
    {
      name: 'site_name',
      type: 'string',
      sql: 's.name',
      required: true,
      title: w('Nom du site', 'Site name'),
      description: w('Nom du site', "The site's name"),
    },
    {
      name: 'usage',
      type: 'string',
      sql: 'b.usage',
      required: true,
      title: w('Usage', 'Usage'),
      description: w('Usage (school, town-hall, gymnasium…)', 'Usage (school, town-hall, gymnasium…)'),
    },
    {
      name: 'area_m2',
      type: 'number',
      sql: 'b.area_m2',
      unit: 'm²',
      title: w('Surface', 'Area'),
      description: w('Surface chauffée, en m²', 'Heated floor area, in m²'),
    },
    {
      name: 'rnb_id',
      type: 'string',
      sql: 'b.rnb_id',
      title: w('Identifiant RNB', 'RNB identifier'),
      description: w('Identifiant au Référentiel national des bâtiments ; vide : inconnu', 'National building register identifier; empty: unknown'),
    },
    { name: 'address', type: 'string', sql: 'b.address', title: w('Adresse', 'Address'), description: w('Adresse postale', 'Postal address') },
    {
      name: 'latitude',
      type: 'number',
      sql: 'b.latitude',
      unit: '°',
      title: w('Latitude', 'Latitude'),
      description: w('Latitude WGS 84, en degrés', 'WGS 84 latitude, in degrees'),
    },
    {
      name: 'longitude',
      type: 'number',
      sql: 'b.longitude',
      unit: '°',
      title: w('Longitude', 'Longitude'),
      description: w('Longitude WGS 84, en degrés', 'WGS 84 longitude, in degrees'),
    },
  ],
};

/** Every dataset, in the order the catalogue and the page list them. */
export const DATASETS: readonly DatasetDefinition[] = [objectiveResults, buildingEnergy, serviceIndicators, buildings, projectSavings, pointHourly];

export function datasetById(id: string): DatasetDefinition | undefined {
  return DATASETS.find((d) => d.id === id);
}
