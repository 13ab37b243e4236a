import type { Logger } from '@citypilot/sdk';
import type { Objectives } from './objectives.js';
import { monthsAgo } from './routes.js';

/** How far back a scheduled evaluation goes: late data and corrections of the last year count. */
const MONTHS_BACK = 12;

/**
 * Keeps the objectives' results current: evaluates them at start, every `everyMs`, and soon after
 * new service data (`poke()`), one evaluation at a time (a poke during one runs another after).
 */
export class ObjectiveSchedule {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private lastError: string | undefined;
  private stopped = false;

  constructor(
    private readonly objectives: Objectives,
    private readonly options: {
      timezone: string;
      logger: Logger;
      everyMs: number;
      /** Run after each evaluation that succeeded (the open data's derived tables); a failure is logged once until it changes. */
      afterEvaluation?: () => Promise<unknown>;
    },
  ) {}

  start(): void {
    this.poke();
    this.timer = setInterval(() => this.poke(), this.options.everyMs);
    this.timer.unref();
  }

  /** Asks for an evaluation as soon as the one running (if any) ends. */
  poke(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.run().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.poke();
      }
    });
  }

  /** The meter warnings last logged, one per line. */
  private meterWarnings = '';

  private async run(): Promise<void> {
    try {
      const summary = await this.objectives.evaluate({ fromMonth: monthsAgo(MONTHS_BACK, this.options.timezone) });
      if (this.lastError !== undefined) this.options.logger.info({}, 'objectives evaluated again');
      this.lastError = undefined;
      this.options.logger.debug({ objectives: summary.objectives, results: summary.results, changes: summary.changes.length }, 'objectives evaluated');
      // The meters' roles left to a default: said once, and again only when they change.
      const warnings = summary.meterWarnings.join('\n');
      if (warnings !== this.meterWarnings) {
        for (const w of summary.meterWarnings) this.options.logger.warn({ warning: w }, 'energy objectives: meter roles');
        this.meterWarnings = warnings;
      }
      await this.options.afterEvaluation?.();
    } catch (error) {
      // Logged once until it changes: a database outage must not fill the log.
      if ((error as Error).message !== this.lastError) this.options.logger.error({ err: (error as Error).message }, 'objectives evaluation failed');
      this.lastError = (error as Error).message;
    }
  }

  /** Stops the schedule and waits for the evaluation in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }
}
