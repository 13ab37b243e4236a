/**
 * Sign-in (`/connexion?retour=/path`): a local account's username and password, or the city's
 * identity provider (ProConnect for French public agents) when the hub has one. After signing in,
 * the person goes back to `retour`, a path of this site only (never another site's address).
 * A failed sign-in through the provider lands here with `?error=<code>`, said in words.
 */
import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { ApiError, withQuery } from '../api.js';
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { useSession } from '../session.js';
import { described, Field } from '../ui/form.js';
import { View } from '../ui/view.js';

const PROVIDER_ERRORS = ['provider-unavailable', 'login-expired', 'state-mismatch', 'denied', 'no-role', 'no-sites', 'account-disabled', 'failed'];

/** `retour` when it is a path of this site, else the home page. */
export function safeReturn(value: string | undefined): string {
  if (!value || !value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\') || [...value].some((c) => c.charCodeAt(0) < 0x20)) return '/';
  return value;
}

export function Login() {
  const { t } = useI18n();
  const session = useSession();
  const { query, route } = useLocation();
  const retour = safeReturn(query.retour);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const providerError = query.error
    ? PROVIDER_ERRORS.includes(query.error)
      ? t(`login.error.${query.error}` as MessageKey)
      : t('login.error.failed')
    : undefined;

  const waitWords = (seconds: number | undefined) => {
    if (seconds === undefined) return undefined;
    return seconds < 120 ? t('login.seconds', { n: Math.max(1, Math.ceil(seconds)) }) : t('login.minutes', { n: Math.ceil(seconds / 60) });
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    if (!username.trim() || !password) {
      setError(t('login.required'));
      return;
    }
    setSending(true);
    setError(undefined);
    try {
      await session.signIn(username.trim(), password);
      route(retour);
    } catch (e) {
      const failure = e instanceof ApiError ? e : new ApiError(0, String(e));
      if (failure.status === 401) setError(t('login.refused'));
      else if (failure.status === 429) {
        const wait = waitWords(failure.retryAfter);
        setError(wait ? t('login.rateLimited', { wait }) : t('login.rateLimitedNoWait'));
      } else if (failure.status === 403) setError(t('login.disabled'));
      else setError(t('login.failed', { error: failure.message }));
      setPassword('');
    } finally {
      setSending(false);
    }
  };

  return (
    <View name="login" busy={!session.known} title={t('login.title')}>
      <h1>{t('login.title')}</h1>
      <p class="lead">{t('login.intro')}</p>
      {providerError && (
        <div class="notice notice-error" role="alert" data-error={query.error}>
          <p>{providerError}</p>
        </div>
      )}
      {session.user && (
        <div class="notice notice-ok">
          <p>{t('login.signedIn', { name: session.user.name })}</p>
          <a href={retour}>{t('login.continue')}</a>
        </div>
      )}
      <form class="form narrow" onSubmit={submit} noValidate>
        <Field id="login-username" label={t('login.username')} error={undefined}>
          <input
            id="login-username"
            aria-invalid={error ? 'true' : undefined}
            aria-describedby={error ? 'login-password-error' : undefined}
            name="username"
            autocomplete="username"
            autocapitalize="none"
            spellcheck={false}
            required
            value={username}
            onInput={(e) => setUsername((e.target as HTMLInputElement).value)}
          />
        </Field>
        <Field id="login-password" label={t('login.password')} error={error}>
          <input
            {...described('login-password', error, false)}
            name="password"
            type="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
          />
        </Field>
        <div class="form-actions">
          <button type="submit" disabled={sending}>
            {sending ? t('login.submitting') : t('login.submit')}
          </button>
        </div>
      </form>
      {session.oidc.enabled && (
        <>
          <p class="separator">{t('login.or')}</p>
          <p>
            <a class="button secondary" data-oidc href={withQuery('/api/session/oidc/start', { returnTo: retour })}>
              {session.oidc.label || t('login.oidc')}
            </a>
          </p>
        </>
      )}
    </View>
  );
}
