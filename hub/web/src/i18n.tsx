/**
 * Languages of the dashboard: French first, English too. Every string shown is in a message
 * catalogue (messages/*.ts); numbers, dates and units are formatted for the language with Intl,
 * dates in the city's time zone (given by the hub in index.html's citypilot-timezone meta).
 *
 * The language is `?lang=en|fr` in the URL when there (a shared link opens in its language),
 * else the `cp_lang` cookie set by the switch, else French.
 */
import { createContext } from 'preact';
import { useContext, useMemo, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import { catalogue, type MessageKey } from './messages/index.js';

export type Lang = 'fr' | 'en';
export const LANGS: readonly Lang[] = ['fr', 'en'];

/** The city's IANA time zone, for dates and months. */
export const CITY_TIMEZONE = document.querySelector<HTMLMetaElement>('meta[name="citypilot-timezone"]')?.content || 'Europe/Paris';

function initialLang(): Lang {
  const fromUrl = new URLSearchParams(location.search).get('lang');
  if (fromUrl === 'fr' || fromUrl === 'en') return fromUrl;
  const cookie = /(?:^|;\s*)cp_lang=(fr|en)\b/.exec(document.cookie);
  return (cookie?.[1] as Lang | undefined) ?? 'fr';
}

export interface I18n {
  lang: Lang;
  setLang(lang: Lang): void;
  /** The message `key` in the current language, `{name}` replaced by `params.name`. */
  t(key: MessageKey, params?: Record<string, string | number>): string;
  /** The words for a value of the hub's (a usage, a theme…): message `<prefix>.<value>`, else the value itself. */
  label(prefix: string, value: string): string;
  /** A number with its unit, at `decimals` (default: by magnitude, see defaultDecimals). */
  num(value: number | null | undefined, unit?: string, decimals?: number): string;
  /** An amount in € as the language writes money (`12 500 €`, `€12,500`), at `decimals` (default 0). */
  eur(value: number | null | undefined, decimals?: number): string;
  /** A ratio 0..1 as a percentage. */
  percent(ratio: number | null | undefined, decimals?: number): string;
  /** A signed relative change (-0.12 → "−12 %"). */
  change(ratio: number | null | undefined): string;
  /** `2026-11` → "novembre 2026", `2026-Q3` → "3e trimestre 2026", `2026` → "2026". */
  period(period: string): string;
  /** An instant, in the city's time zone, date and time. */
  dateTime(iso: string | number | Date | null | undefined): string;
  /** An instant, in the city's time zone, date only. */
  date(iso: string | number | Date | null | undefined): string;
  /** A local day of the city, `YYYY-MM-DD` (a calendar label already in its time), as a date. */
  day(day: string | null | undefined): string;
  /** How long ago, from seconds ("il y a 3 minutes"). */
  age(seconds: number | null | undefined): string;
}

const I18nContext = createContext<I18n>(undefined as unknown as I18n);

/** Decimals a value shows by default: whole numbers from 100 on, one from 10, two below. */
export function defaultDecimals(value: number): number {
  const abs = Math.abs(value);
  return abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
}

export function makeI18n(lang: Lang, setLang: (lang: Lang) => void): I18n {
  const messages = catalogue[lang];
  const locale = lang === 'fr' ? 'fr-FR' : 'en-GB';
  const numberFormats = new Map<number, Intl.NumberFormat>();
  const numberFormat = (decimals: number) => {
    let f = numberFormats.get(decimals);
    if (!f) numberFormats.set(decimals, (f = new Intl.NumberFormat(locale, { minimumFractionDigits: 0, maximumFractionDigits: decimals })));
    return f;
  };
  const dash = messages['common.none'];
  const dateTimeFormat = new Intl.DateTimeFormat(locale, { timeZone: CITY_TIMEZONE, dateStyle: 'medium', timeStyle: 'short' });
  const dateFormat = new Intl.DateTimeFormat(locale, { timeZone: CITY_TIMEZONE, dateStyle: 'medium' });
  // Months and days are calendar labels already in the city's time (YYYY-MM, YYYY-MM-DD): formatted in UTC, unshifted.
  const monthFormat = new Intl.DateTimeFormat(locale, { timeZone: 'UTC', month: 'long', year: 'numeric' });
  const dayFormat = new Intl.DateTimeFormat(locale, { timeZone: 'UTC', dateStyle: 'medium' });
  const relative = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
  const t = (key: MessageKey, params?: Record<string, string | number>) => {
    const text = messages[key] ?? key;
    return params ? text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole)) : text;
  };
  const toDate = (value: string | number | Date) => (value instanceof Date ? value : new Date(value));
  return {
    lang,
    setLang,
    t,
    label(prefix, value) {
      return (messages as Record<string, string>)[`${prefix}.${value}`] ?? value;
    },
    num(value, unit, decimals) {
      if (value === null || value === undefined || !Number.isFinite(value)) return dash;
      const text = numberFormat(decimals ?? defaultDecimals(value)).format(value);
      // A narrow no-break space between number and unit, as French typography asks (and English reads fine).
      return unit ? `${text}\u202f${unit}` : text;
    },
    eur(value, decimals = 0) {
      if (value === null || value === undefined || !Number.isFinite(value)) return dash;
      return new Intl.NumberFormat(locale, { style: 'currency', currency: 'EUR', minimumFractionDigits: decimals, maximumFractionDigits: decimals }).format(
        value,
      );
    },
    percent(ratio, decimals = 0) {
      if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return dash;
      return new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: decimals }).format(ratio);
    },
    change(ratio) {
      if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return dash;
      return new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1, signDisplay: 'exceptZero' }).format(ratio);
    },
    period(period) {
      const month = /^(\d{4})-(\d{2})$/.exec(period);
      if (month) return monthFormat.format(new Date(Date.UTC(Number(month[1]), Number(month[2]) - 1, 1)));
      const quarter = /^(\d{4})-Q([1-4])$/.exec(period);
      if (quarter) return t('common.quarter', { n: quarter[2]!, year: quarter[1]! });
      return period;
    },
    dateTime(value) {
      return value === null || value === undefined ? dash : dateTimeFormat.format(toDate(value));
    },
    date(value) {
      return value === null || value === undefined ? dash : dateFormat.format(toDate(value));
    },
    day(day) {
      const parts = day ? /^(\d{4})-(\d{2})-(\d{2})$/.exec(day) : null;
      if (!parts) return day || dash;
      return dayFormat.format(new Date(Date.UTC(Number(parts[1]), Number(parts[2]) - 1, Number(parts[3]))));
    },
    age(seconds) {
      if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return dash;
      const s = Math.max(0, seconds);
      if (s < 60) return relative.format(-Math.round(s), 'second');
      if (s < 3600) return relative.format(-Math.round(s / 60), 'minute');
      if (s < 86_400) return relative.format(-Math.round(s / 3600), 'hour');
      return relative.format(-Math.round(s / 86_400), 'day');
    },
  };
}

export function I18nProvider({ children }: { children: ComponentChildren }) {
  const [lang, setLangState] = useState<Lang>(initialLang);
  const value = useMemo(
    () =>
      makeI18n(lang, (next) => {
        document.cookie = `cp_lang=${next}; path=/; max-age=31536000; samesite=lax`;
        // A URL that named the language names the new one, so that sharing it keeps the choice.
        const url = new URL(location.href);
        if (url.searchParams.has('lang')) {
          url.searchParams.set('lang', next);
          history.replaceState(history.state, '', url);
        }
        setLangState(next);
      }),
    [lang],
  );
  document.documentElement.lang = lang;
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  return useContext(I18nContext);
}
