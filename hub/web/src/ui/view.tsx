/**
 * What every page is made of. A page renders its content in <View name=…>, which is the
 * document's <main>: `data-view` names the page and `aria-busy` is true until its data is drawn,
 * which assistive technologies announce, and which the browser tests, the screenshots and the
 * dashboard benchmark wait for. useLoad fetches a page's data and says when it failed.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api.js';
import { useI18n } from '../i18n.js';

export function View({ name, busy, title, children }: { name: string; busy: boolean; title: string; children: ComponentChildren }) {
  const { t } = useI18n();
  useEffect(() => {
    document.title = `${title} — ${t('app.name')}`;
  }, [title, t]);
  return (
    <main id="main" tabIndex={-1} data-view={name} aria-busy={busy ? 'true' : 'false'}>
      {children}
    </main>
  );
}

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload(): void;
}

/**
 * Loads `load()` whenever one of `deps` changes; a late answer to an older request is dropped.
 * Pass `enabled: false` to wait (e.g. until the session is known).
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], enabled = true): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: ApiError | undefined; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: enabled,
  });
  const [tick, setTick] = useState(0);
  const generation = useRef(0);
  useEffect(() => {
    if (!enabled) return;
    const mine = ++generation.current;
    setState((s) => ({ ...s, loading: true, error: undefined }));
    load().then(
      (data) => mine === generation.current && setState({ data, error: undefined, loading: false }),
      (error: unknown) =>
        mine === generation.current && setState({ data: undefined, error: error instanceof ApiError ? error : new ApiError(0, String(error)), loading: false }),
    );
  }, [...deps, tick, enabled]);
  return { ...state, reload: () => setTick((n) => n + 1) };
}

/**
 * A failed load, in words, with a retry; when the hub asks who is there (401) or says the person
 * may not (403), the way to sign in, back to this page.
 */
export function LoadError({ error, retry }: { error: ApiError; retry?: () => void }) {
  const { t } = useI18n();
  const here = `${location.pathname}${location.search}`;
  return (
    <div class="notice notice-error" role="alert">
      <p>{error.status === 401 ? t('login.needed') : error.status === 403 ? t('login.forbidden') : t('app.error', { error: error.message })}</p>
      {(error.status === 401 || error.status === 403) && (
        <p>
          <a href={`/connexion?retour=${encodeURIComponent(here)}`}>{t(error.status === 401 ? 'nav.signIn' : 'login.other')}</a>
        </p>
      )}
      {retry && error.status !== 401 && error.status !== 403 && (
        <button type="button" onClick={retry}>
          {t('app.retry')}
        </button>
      )}
    </div>
  );
}

/** The loading line, announced politely. */
export function Loading() {
  const { t } = useI18n();
  return (
    <p class="loading" role="status">
      {t('app.loading')}
    </p>
  );
}
