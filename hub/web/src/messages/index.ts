/**
 * Every message of the dashboard, by area. An area (a group of pages) keeps its strings in its
 * own file, French and English side by side (see area.ts); add a new area's file here.
 */
import { common } from './common.js';
import { home } from './home.js';
import { buildings } from './buildings.js';
import { objective } from './objective.js';
import { point } from './point.js';
import { signin } from './signin.js';
import { serviceData } from './service-data.js';
import { objectivesAdmin } from './objectives-admin.js';
import { gateways } from './gateways.js';
import { accounts } from './accounts.js';
import { utility } from './utility.js';
import { projects } from './projects.js';
import { costs } from './costs.js';
import { openData } from './open-data.js';
import { fleet } from './fleet.js';

const areas = [
  common,
  home,
  objective,
  point,
  buildings,
  signin,
  serviceData,
  objectivesAdmin,
  gateways,
  accounts,
  utility,
  projects,
  costs,
  openData,
  fleet,
] as const;

type Merge<A extends readonly { fr: object }[]> = A extends readonly [infer H extends { fr: object }, ...infer R extends readonly { fr: object }[]]
  ? H['fr'] & Merge<R>
  : unknown;
export type Messages = Merge<typeof areas>;
export type MessageKey = keyof Messages & string;

export const catalogue: Record<'fr' | 'en', Record<MessageKey, string>> = {
  fr: Object.assign({}, ...areas.map((a) => a.fr)),
  en: Object.assign({}, ...areas.map((a) => a.en)),
};
