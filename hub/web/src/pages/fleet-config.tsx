/**
 * A gateway's configuration on its fleet page (fleet-gateway.tsx): the revision it runs against
 * the one the hub last pushed, the gateway's refusal in full (its lines `file:line:column path:
 * expected`), the diff running → pushed with its lines marked `+`/`-` (not only by colour), and a
 * form whose text is checked (POST …/config/check) or pushed (PUT …/config) as the gateway's whole
 * YAML configuration. The text typed stays while the page refreshes; a check's result takes the
 * focus, a push is said in a live region and the page reloaded, so that the operator sees the
 * gateway apply the new revision.
 */
import { useRef, useState } from 'preact/hooks';
import { ApiError } from '../api.js';
import { fleetApi, refusalProblems, type FleetGatewayDetail } from '../fleet.js';
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { Field, OutcomeNotice } from '../ui/form.js';
import { ConfigBadge, useRevisionText } from './fleet-parts.js';

type Result = { kind: 'valid'; text: string } | { kind: 'problems'; title: string; problems: string[] } | { kind: 'error'; text: string };

const errorText = (e: unknown) => (e instanceof ApiError ? e.message : String(e));

export function ConfigSection({ gateway: g, onPushed }: { gateway: FleetGatewayDetail; onPushed: () => void }) {
  const { t, dateTime } = useI18n();
  const revisionText = useRevisionText();
  const source = (s: 'file' | 'hub') => t(`fleet.source.${s}` as MessageKey);
  const { running, refused, pushed } = g.config;
  return (
    <section aria-labelledby="fleet-cfg" class="fleet-config" data-running={String(running.revision)} data-refused={refused ? 'true' : 'false'}>
      <h2 id="fleet-cfg">{t('fleet.cfg.title')}</h2>
      <p>
        <ConfigBadge gateway={g} />
      </p>
      <dl class="facts">
        <dt>{t('fleet.cfg.running')}</dt>
        <dd data-cell="running">
          {t('fleet.cfg.appliedAt', { revision: revisionText(running.revision), source: source(running.source), when: dateTime(running.appliedAt) })}
        </dd>
        <dt>{t('fleet.cfg.pushed')}</dt>
        <dd data-cell="pushed">{pushed ? t('fleet.cfg.pushedAt', { revision: pushed.revision, when: dateTime(pushed.at) }) : t('fleet.cfg.none')}</dd>
      </dl>
      {refused && (
        <div class="notice notice-error refusal" data-refusal="">
          <h3>
            <span class="status-icon" aria-hidden="true">
              ✕{' '}
            </span>
            {t('fleet.cfg.refusedTitle')}
          </h3>
          <p>{t('fleet.cfg.refusedIntro', { revision: revisionText(refused.revision), source: source(refused.source), when: dateTime(refused.at) })}</p>
          <pre class="code-block" role="region" aria-label={t('fleet.cfg.refusedTitle')} tabIndex={0}>
            {refused.message}
          </pre>
        </div>
      )}
      {g.configText.diff && <ConfigDiff diff={g.configText.diff} />}
      <ConfigForm key={g.id} gateway={g} onPushed={onPushed} />
    </section>
  );
}

/** A unified diff, each line marked by its own `+`, `-` or space, and by a class for colour. */
function ConfigDiff({ diff }: { diff: string }) {
  const { t } = useI18n();
  const lineClass = (line: string) =>
    line.startsWith('+++') || line.startsWith('---') || line.startsWith('@@')
      ? 'diff-head'
      : line.startsWith('+')
        ? 'diff-add'
        : line.startsWith('-')
          ? 'diff-del'
          : '';
  return (
    <>
      <h3 id="fleet-cfg-diff">{t('fleet.cfg.diffTitle')}</h3>
      <p class="hint" id="fleet-cfg-diff-hint">
        {t('fleet.cfg.diffHint')}
      </p>
      <pre class="code-block config-diff" role="region" aria-labelledby="fleet-cfg-diff" aria-describedby="fleet-cfg-diff-hint" tabIndex={0}>
        {diff.split('\n').map((line) => (
          <span class={lineClass(line)}>{`${line}\n`}</span>
        ))}
      </pre>
    </>
  );
}

function ConfigForm({ gateway: g, onPushed }: { gateway: FleetGatewayDetail; onPushed: () => void }) {
  const { t } = useI18n();
  // Prefilled once; the page's refreshes never overwrite what is being typed.
  const [text, setText] = useState(() => g.configText.pushed ?? g.configText.running ?? '');
  const [busy, setBusy] = useState<'check' | 'push' | undefined>(undefined);
  const [result, setResult] = useState<Result | undefined>(undefined);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | undefined>(undefined);
  const resultRef = useRef<HTMLDivElement>(null);
  const show = (r: Result) => {
    setResult(r);
    // After the render that draws it.
    setTimeout(() => resultRef.current?.focus(), 0);
  };

  // The buttons stay enabled (a disabled button would drop the focus): a second click while busy does nothing.
  const check = async () => {
    if (busy) return;
    setOutcome(undefined);
    setResult(undefined);
    if (!text.trim()) return show({ kind: 'problems', title: t('fleet.cfg.problems', { count: 1 }), problems: [t('fleet.cfg.empty')] });
    setBusy('check');
    try {
      const answer = await fleetApi.checkConfig(g.id, text);
      if (answer.ok) show({ kind: 'valid', text: t('fleet.cfg.valid', { gateway: answer.gateway }) });
      else show({ kind: 'problems', title: t('fleet.cfg.problems', { count: answer.problems.length }), problems: answer.problems });
    } catch (e) {
      show({
        kind: 'error',
        text: e instanceof ApiError && e.status === 409 ? t('fleet.cfg.cannotCheck', { error: e.message }) : t('fleet.cfg.failed', { error: errorText(e) }),
      });
    } finally {
      setBusy(undefined);
    }
  };

  const push = async (event: Event) => {
    event.preventDefault();
    if (busy) return;
    setOutcome(undefined);
    setResult(undefined);
    if (!text.trim()) return show({ kind: 'problems', title: t('fleet.cfg.problems', { count: 1 }), problems: [t('fleet.cfg.empty')] });
    setBusy('push');
    try {
      const { revision } = await fleetApi.pushConfig(g.id, text);
      setOutcome({ ok: true, text: t('fleet.cfg.sent', { revision }) });
      onPushed();
    } catch (e) {
      const problems = refusalProblems(e);
      if (problems.length) show({ kind: 'problems', title: t('fleet.cfg.problems', { count: problems.length }), problems });
      else setOutcome({ ok: false, text: t('fleet.cfg.pushRefused', { error: errorText(e) }) });
    } finally {
      setBusy(undefined);
    }
  };

  return (
    <div class="panel">
      <h3 id="fleet-cfg-form">{t('fleet.cfg.formTitle')}</h3>
      <OutcomeNotice outcome={outcome} />
      <div ref={resultRef} tabIndex={-1} class="check-result" data-result={result?.kind}>
        {result?.kind === 'valid' && (
          <p class="notice notice-ok">
            <span aria-hidden="true">✓ </span>
            {result.text}
          </p>
        )}
        {result?.kind === 'error' && <p class="notice notice-error">{result.text}</p>}
        {result?.kind === 'problems' && (
          <div class="notice notice-error">
            <p>
              <span aria-hidden="true">✕ </span>
              {result.title}
            </p>
            <ul class="problems">
              {result.problems.map((p) => (
                <li>
                  <code>{p}</code>
                </li>
              ))}
            </ul>
          </div>
        )}
      </div>
      <form class="form" onSubmit={push} noValidate aria-labelledby="fleet-cfg-form">
        <Field id="fleet-config-text" label={t('fleet.cfg.text')} hint={t('fleet.cfg.formHint')}>
          <textarea
            id="fleet-config-text"
            aria-describedby="fleet-config-text-hint"
            rows={20}
            spellcheck={false}
            autocomplete="off"
            value={text}
            onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
          />
        </Field>
        <div class="form-actions">
          <button type="button" class="secondary" aria-disabled={busy ? 'true' : undefined} onClick={check}>
            {busy === 'check' ? t('fleet.cfg.checking') : t('fleet.cfg.check')}
          </button>
          <button type="submit" aria-disabled={busy ? 'true' : undefined}>
            {busy === 'push' ? t('fleet.cfg.pushing') : t('fleet.cfg.push')}
          </button>
        </div>
      </form>
    </div>
  );
}
