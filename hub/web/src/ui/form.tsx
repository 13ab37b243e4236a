/**
 * Form fields whose errors sit next to them: every field has its label, its hint and its error
 * tied to it (aria-describedby), and says it is wrong (aria-invalid), as RGAA 11 asks. The hub's
 * refusals name where the problem is (`values[0].scope`, `label.fr`, `role: …`); fieldErrors
 * sorts them onto the form's fields, and what fits no field is shown above the form.
 */
import type { ComponentChildren } from 'preact';
import type { ApiError, ApiIssue } from '../api.js';

/** Errors by field name, and those of no field (`general`). */
export interface FieldErrors {
  byField: Record<string, string>;
  general: string[];
}

export const NO_ERRORS: FieldErrors = { byField: {}, general: [] };

/** `['label', 'fr']`, `values[0].scope`, `/label/fr` → `label.fr`, `values.0.scope`. */
export function issuePath(path: unknown): string {
  const text = Array.isArray(path) ? path.join('.') : typeof path === 'string' ? path : '';
  return text
    .replace(/\[(\d+)\]/g, '.$1')
    .replace(/^\/+/, '')
    .replace(/\//g, '.')
    .replace(/^\.+/, '');
}

/**
 * The field an issue belongs to: the longest of `fields` its path starts with, after
 * `strip` (a prefix such as `values.0.`) is removed.
 */
export function fieldOf(path: string, fields: readonly string[], strip?: RegExp): string | undefined {
  const p = strip ? path.replace(strip, '') : path;
  let best: string | undefined;
  for (const f of fields) if ((p === f || p.startsWith(`${f}.`)) && (!best || f.length > best.length)) best = f;
  return best;
}

/**
 * Sorts a refusal onto the fields: its `issues` by path, else its message when it starts with a
 * field name and a colon (`password: at least 12 characters`) or names a field of the request
 * as schema validation does (`body/baseUrl must match pattern …`), else a general error.
 */
export function fieldErrors(error: ApiError, fields: readonly string[], strip?: RegExp): FieldErrors {
  const out: FieldErrors = { byField: {}, general: [] };
  const add = (field: string | undefined, message: string) => {
    if (field) out.byField[field] = out.byField[field] ? `${out.byField[field]} ${message}` : message;
    else out.general.push(message);
  };
  const issues: ApiIssue[] = error.issues ?? [];
  if (issues.length) {
    for (const issue of issues) add(fieldOf(issuePath(issue.path), fields, strip), issue.message);
    return out;
  }
  for (const line of error.message.split('\n')) {
    // `field: problem` (the hub's own checks), or `body/field problem` (its schema's validation).
    const m = /^([\w.[\]]+):\s*(.+)$/s.exec(line) ?? /^(?:body|params|querystring)[/.]([\w./[\]]+) (.+)$/s.exec(line);
    const field = m ? fieldOf(issuePath(m[1]), fields, strip) : undefined;
    add(field, field ? m![2]! : line);
  }
  return out;
}

/** The attributes that tie an input to its hint and error. */
export function described(id: string, error: string | undefined, hint?: boolean): Record<string, string | undefined> {
  const ids = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return { id, 'aria-invalid': error ? 'true' : undefined, 'aria-describedby': ids || undefined };
}

/** A field: its label, its hint, the input (given, built with `described`), then its error. */
export function Field({ id, label, hint, error, children }: { id: string; label: string; hint?: string; error?: string; children: ComponentChildren }) {
  return (
    <div class={`field${error ? ' field-invalid' : ''}`}>
      <label for={id}>{label}</label>
      {hint && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {children}
      {error && (
        <p class="field-error" id={`${id}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}

/** Errors of no field, above the form, announced. */
export function GeneralErrors({ errors, title }: { errors: string[]; title: string }) {
  if (!errors.length) return null;
  return (
    <div class="notice notice-error" role="alert">
      <p>{title}</p>
      <ul>
        {errors.map((e) => (
          <li>{e}</li>
        ))}
      </ul>
    </div>
  );
}

/** What an action did, in words: a live region (role status) that says it once it is set; green or red with the words. */
export function OutcomeNotice({ outcome }: { outcome: { ok: boolean; text: string } | undefined | null }) {
  return <div role="status">{outcome && <p class={`notice ${outcome.ok ? 'notice-ok' : 'notice-error'}`}>{outcome.text}</p>}</div>;
}
