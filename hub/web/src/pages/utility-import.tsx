/**
 * A utility's file imported (POST /api/utility/imports?format=…&file=…, the CSV as the body):
 * its upload's progress, then its summary, the rows refused listed by row and column with the
 * hub's message. And the latest runs, collections and imports together, newest first.
 */
import { useState } from 'preact/hooks';
import { api, ApiError, upload, withQuery } from '../api.js';
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { described, Field, GeneralErrors } from '../ui/form.js';
import { StateBadge, type StatusName } from '../ui/status.js';
import { LoadError, Loading, type Loaded } from '../ui/view.js';
import { IMPORT_FORMATS, type ConnectorState, type ImportFormat, type RunSummary } from './utility-types.js';

/** Longest file name the hub keeps with an import. */
export const FILE_NAME_MAX = 200;

/** Runs the table lists at most. */
export const RUNS_SHOWN = 20;

/** The latest runs of every connector and the latest imports, newest first. */
export async function loadRuns(connectors: readonly string[]): Promise<RunSummary[]> {
  const answers = await Promise.all([
    api.get<{ runs: RunSummary[] }>('/api/utility/imports'),
    ...connectors.map((key) => api.get<{ runs: RunSummary[] }>(`/api/utility/connectors/${encodeURIComponent(key)}/runs`)),
  ]);
  return answers
    .flatMap((a) => a.runs)
    .sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : b.id - a.id))
    .slice(0, RUNS_SHOWN);
}

type Phase = { name: 'idle' } | { name: 'uploading'; sent: number; total: number } | { name: 'reading' } | { name: 'done'; run: RunSummary };

export function UtilityImport({ onImported }: { onImported: () => void }) {
  const { t, percent } = useI18n();
  const [format, setFormat] = useState<ImportFormat>('enedis');
  const [file, setFile] = useState<File | undefined>(undefined);
  const [fileError, setFileError] = useState<string | undefined>(undefined);
  const [refused, setRefused] = useState<string[]>([]);
  const [phase, setPhase] = useState<Phase>({ name: 'idle' });
  const sending = phase.name === 'uploading' || phase.name === 'reading';

  const submit = async (event: Event) => {
    event.preventDefault();
    setRefused([]);
    if (!file) {
      setFileError(t('ut.fileMissing'));
      return;
    }
    setFileError(undefined);
    setPhase({ name: 'uploading', sent: 0, total: file.size });
    try {
      const path = withQuery('/api/utility/imports', { format, file: file.name.slice(0, FILE_NAME_MAX) || undefined });
      const run = await upload<RunSummary>(path, file, 'text/csv', (sent, total) =>
        // Once the whole file is sent, the hub reads it and stores its readings.
        setPhase(sent >= total ? { name: 'reading' } : { name: 'uploading', sent, total }),
      );
      setPhase({ name: 'done', run });
      onImported();
    } catch (e) {
      setPhase({ name: 'idle' });
      const message = e instanceof ApiError ? e.message : String(e);
      // A file refused whole (not this format, too large): said at the file's field.
      if (e instanceof ApiError && (e.status === 413 || e.status === 400)) setFileError(message);
      else setRefused([message]);
    }
  };

  return (
    <section aria-labelledby="ut-import" class="panel">
      <h2 id="ut-import">{t('ut.importTitle')}</h2>
      <p>{t('ut.importIntro')}</p>
      <GeneralErrors errors={refused} title={t('ut.importRefused')} />
      <form class="form no-print" onSubmit={submit} noValidate>
        <fieldset>
          <legend>{t('ut.format')}</legend>
          {IMPORT_FORMATS.map((f) => (
            <div class="radio">
              <input
                type="radio"
                name="ut-format"
                id={`ut-format-${f}`}
                value={f}
                checked={format === f}
                aria-describedby={`ut-format-${f}-hint`}
                onChange={() => setFormat(f)}
              />
              <label for={`ut-format-${f}`}>{t(`ut.format.${f}` as MessageKey)}</label>
              <p class="hint" id={`ut-format-${f}-hint`}>
                {t(`ut.formatHint.${f}` as MessageKey)}
              </p>
            </div>
          ))}
        </fieldset>
        <Field id="ut-file" label={t('ut.file')} hint={t('ut.fileHint')} error={fileError}>
          <input
            {...described('ut-file', fileError, true)}
            type="file"
            accept=".csv,text/csv"
            onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0])}
          />
        </Field>
        <div class="form-actions">
          <button type="submit" disabled={sending}>
            {sending ? t('ut.importing') : t('ut.import')}
          </button>
        </div>
      </form>
      <div role="status" data-import-phase={phase.name}>
        {phase.name === 'uploading' && (
          <p class="progress">
            <progress
              max={Math.max(1, phase.total)}
              value={phase.sent}
              aria-label={t('ut.uploading', { percent: percent(phase.sent / Math.max(1, phase.total)) })}
            />{' '}
            {t('ut.uploading', { percent: percent(phase.sent / Math.max(1, phase.total)) })}
          </p>
        )}
        {phase.name === 'reading' && (
          <p class="progress">
            <progress aria-label={t('ut.reading')} /> {t('ut.reading')}
          </p>
        )}
        {phase.name === 'done' && <ImportResult run={phase.run} />}
      </div>
    </section>
  );
}

function ImportResult({ run }: { run: RunSummary }) {
  const { t, num } = useI18n();
  const n = (x: number) => num(x, undefined, 0);
  return (
    <div class={`notice ${run.errorCount ? 'notice-error' : 'notice-ok'}`} data-import-summary data-inserted={run.inserted}>
      <p>
        {t('ut.imported', {
          file: run.fileName ?? t('common.none'),
          readings: n(run.readings),
          inserted: n(run.inserted),
          corrected: n(run.corrected),
          unchanged: n(run.unchanged),
        })}
      </p>
      {run.errorCount > 0 && (
        <>
          <p>{t('ut.importErrors', { count: n(run.errorCount) })}</p>
          {run.errorCount > run.errors.length && <p>{t('ut.importErrorsMore', { shown: n(run.errors.length) })}</p>}
          <div class="table-wrap">
            <table data-import-errors>
              <caption>{t('ut.errorsCaption')}</caption>
              <thead>
                <tr>
                  <th scope="col" class="n">
                    {t('ut.row')}
                  </th>
                  <th scope="col">{t('ut.column')}</th>
                  <th scope="col">{t('ut.problem')}</th>
                </tr>
              </thead>
              <tbody>
                {run.errors.map((e) => (
                  <tr data-row={e.row ?? ''}>
                    <th scope="row" class="n">
                      {e.row ?? t('common.none')}
                    </th>
                    <td>{e.column ?? t('common.none')}</td>
                    <td>{e.deliveryPoint ? t('ut.pointError', { id: e.deliveryPoint, message: e.message }) : e.message}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </div>
  );
}

type RunResult = 'ok' | 'partial' | 'failed' | 'unfinished';
const RESULTS: Record<RunResult, { tone: StatusName; icon: string }> = {
  ok: { tone: 'green', icon: '✓' },
  partial: { tone: 'amber', icon: '!' },
  failed: { tone: 'red', icon: '✕' },
  unfinished: { tone: 'unknown', icon: '⟳' },
};

export function runResult(run: RunSummary): RunResult {
  if (run.finishedAt === null) return 'unfinished';
  if (run.ok === false) return 'failed';
  return run.errorCount > 0 ? 'partial' : 'ok';
}

export function LatestRuns({ runs, connectors }: { runs: Loaded<RunSummary[]>; connectors: ConnectorState[] }) {
  const { t, dateTime, num } = useI18n();
  const n = (x: number | null) => num(x, undefined, 0);
  const origin = (r: RunSummary) => {
    if (r.connector) return connectors.find((c) => c.key === r.connector)?.name ?? r.connector;
    const format =
      r.format && (IMPORT_FORMATS as readonly string[]).includes(r.format) ? t(`ut.format.${r.format}` as MessageKey) : (r.format ?? t('common.none'));
    return t('ut.runFile', { file: r.fileName ?? t('common.none'), format });
  };
  const list = runs.data;
  return (
    <section aria-labelledby="ut-runs">
      <h2 id="ut-runs">{t('ut.runs')}</h2>
      {runs.error && <LoadError error={runs.error} retry={runs.reload} />}
      {!list && runs.loading && <Loading />}
      {list && !list.length && <p>{t('ut.noRuns')}</p>}
      {list && list.length > 0 && (
        <div class="table-wrap">
          <table data-runs>
            <caption>{t('ut.runsCaption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('ut.runStarted')}</th>
                <th scope="col">{t('ut.runWhat')}</th>
                <th scope="col">{t('ut.runBy')}</th>
                <th scope="col">{t('ut.runResult')}</th>
                <th scope="col" class="n">
                  {t('ut.readings')}
                </th>
                <th scope="col" class="n">
                  {t('ut.inserted')}
                </th>
                <th scope="col" class="n">
                  {t('ut.corrected')}
                </th>
                <th scope="col" class="n">
                  {t('ut.unchanged')}
                </th>
                <th scope="col" class="n">
                  {t('ut.errors')}
                </th>
                <th scope="col" class="n">
                  {t('ut.daysMissing')}
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((r) => {
                const result = runResult(r);
                return (
                  <tr data-run={r.id} data-result={result}>
                    <th scope="row">{dateTime(r.startedAt)}</th>
                    <td>{origin(r)}</td>
                    <td>{r.submittedBy === 'schedule' ? t('ut.runSchedule') : r.submittedBy}</td>
                    <td>
                      <StateBadge {...RESULTS[result]} text={t(`ut.result.${result}` as MessageKey)} state={result} />
                    </td>
                    <td class="n">{n(r.readings)}</td>
                    <td class="n">{n(r.inserted)}</td>
                    <td class="n">{n(r.corrected)}</td>
                    <td class="n">{n(r.unchanged)}</td>
                    <td class="n">{n(r.errorCount)}</td>
                    <td class="n">{n(r.daysMissing)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
