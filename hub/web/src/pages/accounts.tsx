/**
 * People's accounts (`/gestion/comptes`, admins): the list, a form to create one or change its
 * name, email, role, sites (technicians) or password, and disable or enable it again. The hub
 * answers a wrong field with its name first (`password: …`), shown next to that field.
 */
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { useSession, type Role } from '../session.js';
import { described, Field, fieldErrors, GeneralErrors, NO_ERRORS, OutcomeNotice, type FieldErrors } from '../ui/form.js';
import { LoadError, Loading, useLoad, View } from '../ui/view.js';

interface Account {
  username: string;
  name: string;
  email: string | null;
  role: Role;
  sites: string[] | null;
  hasPassword: boolean;
  oidc: { issuer: string; subject: string } | null;
  disabledAt: string | null;
}

const ROLES: Role[] = ['admin', 'operator', 'technician', 'director', 'elected', 'agent'];
const FIELDS = ['username', 'name', 'email', 'role', 'sites', 'password'];
export const PASSWORD_MIN = 12;

interface FormState {
  username: string;
  name: string;
  email: string;
  role: Role;
  sites: string[];
  password: string;
}

const EMPTY: FormState = { username: '', name: '', email: '', role: 'agent', sites: [], password: '' };

export function Accounts() {
  const { t } = useI18n();
  const session = useSession();
  const accounts = useLoad(() => api.get<{ accounts: Account[] }>('/api/accounts'), [session.user?.username], session.known);
  const sites = useLoad(async () => [...new Set((await api.get<{ site: string }[]>('/api/buildings')).map((b) => b.site))].sort(), [], session.known);
  const [editing, setEditing] = useState<string | undefined>(undefined);
  const [form, setForm] = useState<FormState>(EMPTY);
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | undefined>(undefined);
  const [sending, setSending] = useState(false);

  const edit = (a: Account) => {
    setEditing(a.username);
    setForm({ username: a.username, name: a.name, email: a.email ?? '', role: a.role, sites: a.sites ?? [], password: '' });
    setErrors(NO_ERRORS);
    setMessage(undefined);
    document.getElementById('ac-form')?.focus();
  };
  const put = async (username: string, body: Record<string, unknown>) => api.put<Account>(`/api/accounts/${encodeURIComponent(username)}`, body);

  const submit = async (event: Event) => {
    event.preventDefault();
    setMessage(undefined);
    const username = form.username.trim().toLowerCase();
    if (!editing && accounts.data?.accounts.some((a) => a.username === username)) {
      setErrors({ byField: { username: t('ac.usernameTaken') }, general: [] });
      return;
    }
    if ((!editing || form.password) && form.password.length < PASSWORD_MIN) {
      setErrors({ byField: { password: t('ac.passwordShort') }, general: [] });
      return;
    }
    setSending(true);
    try {
      await put(username, {
        name: form.name,
        role: form.role,
        sites: form.role === 'technician' ? form.sites : null,
        email: form.email.trim() || null,
        ...(form.password ? { password: form.password } : {}),
      });
      setErrors(NO_ERRORS);
      setMessage({ ok: true, text: t(editing ? 'ac.saved' : 'ac.created', { username }) });
      setEditing(undefined);
      setForm(EMPTY);
      accounts.reload();
    } catch (e) {
      setErrors(e instanceof ApiError ? fieldErrors(e, FIELDS) : { byField: {}, general: [String(e)] });
    } finally {
      setSending(false);
    }
  };

  const setEnabled = async (a: Account, enabled: boolean) => {
    setMessage(undefined);
    try {
      if (enabled) await put(a.username, { name: a.name, role: a.role, sites: a.sites });
      else await api.delete(`/api/accounts/${encodeURIComponent(a.username)}`);
      setMessage({ ok: true, text: t(enabled ? 'ac.saved' : 'ac.disabledDone', { username: a.username }) });
      accounts.reload();
    } catch (e) {
      setMessage({ ok: false, text: t('ac.failed', { error: e instanceof ApiError ? e.message : String(e) }) });
    }
  };

  const busy = !session.known || (accounts.loading && !accounts.data);
  const err = errors.byField;
  return (
    <View name="accounts" busy={busy} title={t('ac.title')}>
      <h1>{t('ac.title')}</h1>
      <p class="lead">{t('ac.intro')}</p>
      <OutcomeNotice outcome={message} />
      {accounts.error && <LoadError error={accounts.error} retry={accounts.reload} />}
      {busy && <Loading />}
      {accounts.data && !accounts.data.accounts.length && <p>{t('ac.none')}</p>}
      {accounts.data && accounts.data.accounts.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption>{t('ac.caption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('ac.username')}</th>
                <th scope="col">{t('ac.name')}</th>
                <th scope="col">{t('ac.role')}</th>
                <th scope="col">{t('ac.sites')}</th>
                <th scope="col">{t('ac.signIn')}</th>
                <th scope="col">{t('ac.state')}</th>
                <th scope="col">{t('ac.actions')}</th>
              </tr>
            </thead>
            <tbody>
              {accounts.data.accounts.map((a) => (
                <tr data-account={a.username} data-disabled={a.disabledAt ? 'true' : 'false'}>
                  <th scope="row">{a.username}</th>
                  <td>
                    {a.name}
                    {a.email && (
                      <>
                        <br />
                        <span class="hint">{a.email}</span>
                      </>
                    )}
                  </td>
                  <td>{t(`role.${a.role}` as MessageKey)}</td>
                  <td>{a.sites ? a.sites.join(', ') : t('ac.allSites')}</td>
                  <td>{[a.hasPassword ? t('ac.byPassword') : '', a.oidc ? t('ac.byProvider') : ''].filter(Boolean).join(', ') || t('common.none')}</td>
                  <td>{a.disabledAt ? t('ac.disabled') : t('ac.active')}</td>
                  <td class="actions">
                    <button type="button" class="secondary small" aria-label={t('ac.editLabel', { username: a.username })} onClick={() => edit(a)}>
                      {t('ac.edit')}
                    </button>
                    {a.disabledAt ? (
                      <button
                        type="button"
                        class="secondary small"
                        aria-label={t('ac.enableLabel', { username: a.username })}
                        onClick={() => setEnabled(a, true)}
                      >
                        {t('ac.enable')}
                      </button>
                    ) : (
                      a.username !== session.user?.username && (
                        <button
                          type="button"
                          class="secondary small"
                          aria-label={t('ac.disableLabel', { username: a.username })}
                          onClick={() => setEnabled(a, false)}
                        >
                          {t('ac.disable')}
                        </button>
                      )
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <section aria-labelledby="ac-form-title" class="panel">
        <h2 id="ac-form-title">{editing ? t('ac.editTitle', { username: editing }) : t('ac.createTitle')}</h2>
        <GeneralErrors errors={errors.general} title={t('ac.refused')} />
        <form id="ac-form" tabIndex={-1} class="form narrow" onSubmit={submit} noValidate>
          {!editing && (
            <Field id="ac-username" label={t('ac.username')} hint={t('ac.usernameHint')} error={err.username}>
              <input
                {...described('ac-username', err.username, true)}
                autocomplete="off"
                autocapitalize="none"
                spellcheck={false}
                value={form.username}
                onInput={(e) => setForm({ ...form, username: (e.target as HTMLInputElement).value })}
              />
            </Field>
          )}
          <Field id="ac-name" label={t('ac.name')} error={err.name}>
            <input
              {...described('ac-name', err.name)}
              autocomplete="off"
              value={form.name}
              onInput={(e) => setForm({ ...form, name: (e.target as HTMLInputElement).value })}
            />
          </Field>
          <Field id="ac-email" label={t('ac.email')} hint={t('ac.emailHint')} error={err.email}>
            <input
              {...described('ac-email', err.email, true)}
              type="email"
              autocomplete="off"
              value={form.email}
              onInput={(e) => setForm({ ...form, email: (e.target as HTMLInputElement).value })}
            />
          </Field>
          <Field id="ac-role" label={t('ac.role')} error={err.role}>
            <select
              {...described('ac-role', err.role)}
              value={form.role}
              onChange={(e) => setForm({ ...form, role: (e.target as HTMLSelectElement).value as Role })}
            >
              {ROLES.map((r) => (
                <option value={r}>{t(`role.${r}` as MessageKey)}</option>
              ))}
            </select>
          </Field>
          {form.role === 'technician' && (
            <fieldset aria-describedby={['ac-sites-hint', err.sites ? 'ac-sites-error' : ''].filter(Boolean).join(' ')}>
              <legend>{t('ac.sites')}</legend>
              <p class="hint" id="ac-sites-hint">
                {t('ac.sitesHint')}
              </p>
              {sites.data?.map((s) => (
                <div class="checkbox">
                  <input
                    type="checkbox"
                    id={`ac-site-${s}`}
                    checked={form.sites.includes(s)}
                    onChange={(e) =>
                      setForm({ ...form, sites: (e.target as HTMLInputElement).checked ? [...form.sites, s] : form.sites.filter((x) => x !== s) })
                    }
                  />
                  <label for={`ac-site-${s}`}>{s}</label>
                </div>
              ))}
              {err.sites && (
                <p class="field-error" id="ac-sites-error">
                  {err.sites}
                </p>
              )}
            </fieldset>
          )}
          <Field id="ac-password" label={t('ac.password')} hint={t(editing ? 'ac.passwordHintEdit' : 'ac.passwordHintNew')} error={err.password}>
            <input
              {...described('ac-password', err.password, true)}
              type="password"
              autocomplete="new-password"
              value={form.password}
              onInput={(e) => setForm({ ...form, password: (e.target as HTMLInputElement).value })}
            />
          </Field>
          <div class="form-actions">
            <button type="submit" disabled={sending}>
              {editing ? t('ac.save') : t('ac.create')}
            </button>
            {editing && (
              <button
                type="button"
                class="secondary"
                onClick={() => {
                  setEditing(undefined);
                  setForm(EMPTY);
                  setErrors(NO_ERRORS);
                }}
              >
                {t('ac.cancelEdit')}
              </button>
            )}
          </div>
        </form>
      </section>
    </View>
  );
}
