import { ObjectType, PropertyIdentifier } from '@bacnet-js/client';
import {
  BacnetError,
  BacnetProtocolError,
  BacnetRejectError,
  BacnetServiceError,
  BacnetSocketError,
  BacnetTimeoutError,
  type BacnetClient,
  type BacnetDevice,
  type CovNotification,
  normalizeAddress,
  type PointRead,
  type PointResult,
} from '@citypilot/protocol-bacnet';
import {
  DeviceProtocolError,
  DeviceTimeoutError,
  DeviceUnreachableError,
  parseDuration,
  PlansPerList,
  type Driver,
  type DriverContext,
  type Logger,
  type Reading,
  writablePoint,
} from '@citypilot/sdk';
import { COV_INCREMENT_TAGS, type PlannedPoint } from './checks.js';
import { covReading, newCovState, unnotifiedChange, type CovState } from './cov.js';
import type { BacnetConnectionConfig } from './schema.js';
import type { SharedSocket } from './sockets.js';
import { errorReason, toReading, type ObjectStatus } from './values.js';
import { commandValue } from './write-values.js';

const P = PropertyIdentifier;

/**
 * One BACnet device. The socket opens at the first read; the device's address comes from the
 * configuration or a Who-Is for its instance; its Device object says how to read it (max APDU,
 * ReadPropertyMultiple, segmentation). In mode cov, points are subscribed at the first read and
 * later reads answer from the latest notified values; the rest is read with ReadPropertyMultiple
 * (or ReadProperty). Never called concurrently (the core serializes reads, writes and close).
 */
export class BacnetDriver implements Driver {
  private readonly byId: Map<string, PlannedPoint>;
  private readonly cov = new Map<string, CovState>();
  /** The points of each list of ids read (a poll group's), found once per list. */
  private readonly lists: PlansPerList<PlannedPoint, readonly PlannedPoint[]>;
  private readonly logger: Logger;
  private readonly lifetimeSeconds: number;
  /** The device's address: configured, or found by Who-Is (then forgotten when it falls silent). */
  private address: string | undefined;
  private infoRead = false;
  /** The device stopped answering: every point is read (and fails) until it answers again. */
  private silent = false;
  /** The device rejected SubscribeCOV as a service: not asked again before this time. */
  private covRefusedUntil = 0;
  /**
   * Answers and notifications received from the device, counted, and the count when the last
   * read ended: whether anything came since does not depend on the clock's resolution.
   */
  private heard = 0;
  private heardAtLastRead = -1;
  /** When (ms) the device last answered or notified anything; undefined before its first answer. */
  private lastAnswerAt: number | undefined;
  /** The Device object's database-revision as last read; undefined when unknown or absent. */
  private databaseRevision: number | undefined;
  /** The Device object has no database-revision or system-status: not asked again. */
  private deviceCheck = { databaseRevision: true, systemStatus: true };
  /** An I-Am came from the device while subscribed (it started, or answered another's Who-Is): subscribed again at the next read. */
  private iAmHeard = false;
  /** The driver's own Who-Is is under way: the I-Am answering it is not news. */
  private askingWhoIs = false;
  private stopListening: (() => void) | undefined;
  /** What the status page shows of the device besides errors: the restarts detected, newest last. */
  private readonly recentNotes: string[] = [];
  /** Number-of-states of the writable multi-state points, read at their first write. */
  private readonly states = new Map<string, number>();
  private closed = false;
  private readonly logged = new Map<string, string>();

  constructor(
    private readonly deviceId: string,
    private readonly connection: BacnetConnectionConfig,
    private readonly points: readonly PlannedPoint[],
    private readonly socket: SharedSocket,
    private readonly context: DriverContext,
  ) {
    this.byId = new Map(points.map((p) => [p.id, p]));
    this.lists = new PlansPerList(points, (list) => list);
    this.logger = context.logger;
    this.lifetimeSeconds = parseDuration(connection.covLifetime) / 1000;
    this.address = connection.address;
    for (const p of points) if (p.subscribe) this.cov.set(p.id, newCovState());
  }

  private get device(): BacnetDevice {
    const c = this.connection;
    return {
      address: this.address!,
      deviceInstance: c.deviceInstance,
      ...(c.maxApdu !== undefined ? { maxApdu: c.maxApdu } : {}),
      readMethod: c.readMethod,
      maxRequestsInFlight: c.maxRequestsInFlight,
      retries: c.retries,
      timeoutMs: this.context.timeoutMs,
    };
  }

  async read(ids?: readonly string[]): Promise<Reading[]> {
    const points = this.lists.get(ids);
    const client = await this.client();
    this.listen(client);
    const quiet = this.heard === this.heardAtLastRead;
    await this.connect(client);
    if (this.iAmHeard) {
      this.iAmHeard = false;
      if ([...this.cov.values()].some((state) => state.subscription)) this.restarted('it sent an I-Am');
    }
    if (this.connection.mode === 'cov' && !this.silent) await this.subscribe(client, points);

    const readings = new Map<string, Reading>();
    const toRead: PlannedPoint[] = [];
    const toConfirm: PlannedPoint[] = [];
    const now = Date.now();
    for (const p of points) {
      const state = this.cov.get(p.id);
      if (!state?.subscription || !state.value || state.needsStatus) toRead.push(p);
      // Read now when the value would be older than its bound at the next read.
      else if (now - state.confirmedAt + p.intervalMs > p.confirmWithinMs) toConfirm.push(p);
      else readings.set(p.id, covReading(p, state, now));
    }
    // Every point comes from notifications and nothing came since the last read ended: ask the
    // device something small, so that one switched off is noticed within one interval, not at
    // the next renewal. The same question goes with every confirmation: a changed database
    // revision is a restart (or a new configuration) that the values may not show.
    const checkDevice = toConfirm.length > 0 || (toRead.length === 0 && quiet);
    if (toRead.length > 0 || checkDevice) {
      const { results, increments, device } = await this.readPoints(client, [...toRead, ...toConfirm], checkDevice);
      toRead.forEach((p, i) => readings.set(p.id, this.resultReading(p, results[i]!)));
      const restart = this.restartEvidence(toConfirm, results.slice(toRead.length), increments, device);
      toConfirm.forEach((p, i) => readings.set(p.id, this.resultReading(p, results[toRead.length + i]!)));
      if (restart) {
        this.restarted(restart);
        // The values served from notifications are those the device forgot: read them too.
        const cached = points.filter((p) => !toRead.includes(p) && !toConfirm.includes(p));
        if (cached.length > 0) {
          const again = await this.readPoints(client, cached, false);
          cached.forEach((p, i) => readings.set(p.id, this.resultReading(p, again.results[i]!)));
        }
        if (this.connection.mode === 'cov' && !this.silent) await this.subscribe(client, points);
      }
    }
    if (this.silent) {
      this.silent = false;
      this.log('state', 'info', 'answers again', {});
    }
    this.heardAtLastRead = this.heard;
    return points.map((p) => readings.get(p.id)!);
  }

  /** What the status page shows of the device besides errors: the restarts detected (at most 3, newest last). */
  notes(): string[] {
    return [...this.recentNotes];
  }

  /** Writes a raw value to a writable point at its priority. */
  async write(pointId: string, value: number | boolean | string): Promise<void> {
    await this.command(pointId, value);
  }

  /** Relinquishes the gateway's command: writes NULL at the point's priority, so a lower priority (or the relinquish default) takes over. */
  async relinquish(pointId: string): Promise<void> {
    await this.command(pointId, null);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopListening?.();
    const subscriptions = [...this.cov.values()].flatMap((s) => (s.subscription ? [s.subscription] : []));
    for (const s of this.cov.values()) s.subscription = undefined;
    // Tell the device to stop notifying, unless it is silent (the cancels would only time out).
    if (!this.silent) await Promise.allSettled(subscriptions.map((s) => s.cancel()));
    else for (const s of subscriptions) void s.cancel().catch(() => undefined);
    // Left after an await, always: the gateway's check of a file creates each device and closes
    // it without waiting, and the next devices must still meet its socket's settings (create()).
    await Promise.resolve();
    this.socket.leave();
  }

  // ---- connection --------------------------------------------------------------------------

  private async client(): Promise<BacnetClient> {
    try {
      return await this.socket.client();
    } catch (error) {
      if (error instanceof BacnetError) throw new DeviceUnreachableError(error.message, { cause: error });
      throw error;
    }
  }

  /** Finds the device's address (Who-Is) and reads its Device object, once, and again after a silence. */
  private async connect(client: BacnetClient): Promise<void> {
    const instance = this.connection.deviceInstance;
    if (this.address === undefined) {
      this.askingWhoIs = true;
      let found;
      try {
        found = await client.whoIs({ lowLimit: instance, highLimit: instance, waitMs: this.context.timeoutMs });
      } finally {
        this.askingWhoIs = false;
      }
      const iAm = found.find((i) => i.deviceInstance === instance);
      if (!iAm) {
        const whoIs = `a Who-Is sent to ${this.connection.network.broadcastAddress} got no answer within ${this.context.timeoutMs} ms`;
        this.fallSilent();
        // A device that answered before and now says nothing is off or cut off: the settings
        // that found it then are not the problem. Only one never heard may be out of their reach.
        if (this.lastAnswerAt !== undefined)
          throw new DeviceTimeoutError(`device ${instance} silent since ${new Date(this.lastAnswerAt).toISOString()}: ${whoIs}`);
        const hint =
          this.connection.network.interface !== '0.0.0.0'
            ? `; a socket bound to ${this.connection.network.interface} receives no broadcast I-Am: use interface 0.0.0.0 or set connection.address`
            : '; set connection.address if broadcasts do not reach it';
        throw new DeviceTimeoutError(
          `device ${instance} did not answer a Who-Is sent to ${this.connection.network.broadcastAddress} within ${this.context.timeoutMs} ms${hint}`,
        );
      }
      this.address = iAm.address;
      this.answered();
      this.log('address', 'info', `found at ${iAm.address} by Who-Is`, { address: iAm.address });
    }
    if (this.infoRead) return;
    try {
      const info = await client.readDeviceInfo(this.device);
      this.infoRead = true;
      this.answered();
      this.log('info', 'info', 'device info read', {
        address: info.address,
        name: info.name,
        maxApdu: this.connection.maxApdu ?? info.maxApdu,
        segmentation: info.segmentation,
        readPropertyMultiple: info.supportsReadPropertyMultiple,
        cov: info.supportsCov,
      });
    } catch (error) {
      throw this.deviceError(error);
    }
  }

  /** The device answers nothing: subscriptions are dropped, every point is read until it answers again. */
  private fallSilent(): void {
    for (const state of this.cov.values()) {
      // Stops the renewals at once; the cancel request itself will most likely get no answer.
      if (state.subscription) void state.subscription.cancel().catch(() => undefined);
      state.subscription = undefined;
      state.value = undefined;
      state.retryAt = 0;
    }
    // Read again when it comes back: it may have restarted with other settings, or another address.
    this.infoRead = false;
    if (this.connection.address === undefined) this.address = undefined;
    if (!this.silent) this.log('state', 'warn', 'not answering: subscriptions dropped, every point is read until it answers', {});
    this.silent = true;
  }

  /** The SDK's error for a failure of the whole device. */
  private deviceError(error: unknown): unknown {
    if (!(error instanceof BacnetError)) return error;
    const where = `device ${this.connection.deviceInstance} (${this.address ?? 'address unknown'})`;
    if (error instanceof BacnetTimeoutError) {
      this.fallSilent();
      const since = this.lastAnswerAt !== undefined ? ` silent since ${new Date(this.lastAnswerAt).toISOString()}` : '';
      return new DeviceTimeoutError(`${where}${since}: ${error.message}`, { cause: error });
    }
    if (error instanceof BacnetSocketError) return new DeviceUnreachableError(`${where}: ${error.message}`, { cause: error });
    return new DeviceProtocolError(`${where}: ${error.message}`, { cause: error });
  }

  // ---- reading -----------------------------------------------------------------------------

  /**
   * Reads `points` (with their status), in as few requests as the device allows; with `checkDevice`,
   * the Device object's database-revision and system-status too, and the COV_Increment of the
   * subscribed analog points whose increment is not known yet (what a value may move unnotified).
   */
  private async readPoints(
    client: BacnetClient,
    points: readonly PlannedPoint[],
    checkDevice: boolean,
  ): Promise<{ results: PointResult[]; increments: Map<string, number>; device: { databaseRevision?: number; systemStatus?: number } }> {
    const reads: PointRead[] = points.map((p) => ({
      objectType: p.objectType,
      instance: p.instance,
      property: p.property,
      withStatus: p.property === P.PRESENT_VALUE,
    }));
    const incrementOf = checkDevice
      ? points.filter(
          (p) =>
            COV_INCREMENT_TAGS.has(p.objectType) && !p.covIncrement && this.cov.get(p.id)?.subscription && this.cov.get(p.id)?.deviceIncrement === undefined,
        )
      : [];
    for (const p of incrementOf) reads.push({ objectType: p.objectType, instance: p.instance, property: P.COV_INCREMENT });
    const deviceProperties = checkDevice
      ? [...(this.deviceCheck.databaseRevision ? [P.DATABASE_REVISION] : []), ...(this.deviceCheck.systemStatus ? [P.SYSTEM_STATUS] : [])]
      : [];
    // A device without either is still asked its system-status (required of every device): an Error is an answer.
    if (checkDevice && deviceProperties.length === 0) deviceProperties.push(P.SYSTEM_STATUS);
    for (const property of deviceProperties) reads.push({ objectType: ObjectType.DEVICE, instance: this.connection.deviceInstance, property });
    let all: PointResult[];
    try {
      all = await client.readPoints(this.device, reads);
    } catch (error) {
      throw this.deviceError(error);
    }
    // Every read failed the same way (no answer, nothing decodable): the device failed, not its points.
    const errors = all.map((r) => r.error);
    if (errors.every((e) => e instanceof BacnetTimeoutError)) throw this.deviceError(errors[0]);
    if (errors.every((e) => e instanceof BacnetProtocolError)) throw this.deviceError(errors[0]);
    this.answered();
    const increments = new Map<string, number>();
    incrementOf.forEach((p, i) => {
      const value = Number(all[points.length + i]!.values?.[0]?.value);
      increments.set(p.id, Number.isFinite(value) && value >= 0 ? value : 0);
    });
    const device: { databaseRevision?: number; systemStatus?: number } = {};
    deviceProperties.forEach((property, i) => {
      const r = all[points.length + incrementOf.length + i]!;
      const value = r.values?.[0]?.value;
      const name = property === P.DATABASE_REVISION ? 'databaseRevision' : 'systemStatus';
      if (r.error instanceof BacnetServiceError) this.deviceCheck[name] = false;
      else if (typeof value === 'number') device[name] = value;
    });
    return { results: all.slice(0, points.length), increments, device };
  }

  private resultReading(p: PlannedPoint, result: PointResult): Reading {
    if (result.error) return { point: p.id, value: null, quality: 'bad', reason: errorReason(result.error) };
    const values = result.values ?? [];
    if (values.length !== 1) return { point: p.id, value: null, quality: 'bad', reason: `the property holds ${values.length} values: a point holds one` };
    const status: ObjectStatus = { statusFlags: result.statusFlags, reliability: result.reliability, outOfService: result.outOfService };
    const state = this.cov.get(p.id);
    if (state?.subscription) {
      // Read while subscribed (a fault's reliability, no notification yet, a confirmation): it is the latest value.
      state.value = values[0];
      state.status = status;
      state.needsStatus = false;
      state.confirmedAt = Date.now();
    }
    return toReading(p.id, p.kind, values[0], status);
  }

  /**
   * Why the confirmation read says the device restarted (or lost its subscriptions), if it does:
   * a database revision other than the last one read, or a point whose value or status changed
   * by more than the device notifies without having notified it.
   */
  private restartEvidence(
    points: readonly PlannedPoint[],
    results: readonly PointResult[],
    increments: Map<string, number>,
    device: { databaseRevision?: number },
  ): string | undefined {
    let evidence: string | undefined;
    if (device.databaseRevision !== undefined) {
      if (this.databaseRevision !== undefined && device.databaseRevision !== this.databaseRevision)
        evidence = `its database revision went from ${this.databaseRevision} to ${device.databaseRevision}`;
      this.databaseRevision = device.databaseRevision;
    }
    for (const p of points) {
      const state = this.cov.get(p.id);
      const increment = increments.get(p.id);
      if (state && increment !== undefined) state.deviceIncrement = increment;
    }
    return evidence ?? unnotifiedChange(points, results, this.cov);
  }

  /**
   * The device restarted, or forgot its subscriptions: every subscription is made again and
   * every point read (the values notified before are the device's old ones). Logged once, and
   * kept for the status page.
   */
  private restarted(reason: string): void {
    for (const state of this.cov.values()) {
      // The device most likely no longer has them; the cancels stop the renewals of the old ones.
      if (state.subscription) void state.subscription.cancel().catch(() => undefined);
      state.subscription = undefined;
      state.value = undefined;
      state.needsStatus = false;
      state.retryAt = 0;
      state.confirmedAt = 0;
      // It may have lost a COV_Increment written before.
      state.incrementDone = false;
      state.deviceIncrement = undefined;
    }
    this.covRefusedUntil = 0;
    const at = new Date().toISOString();
    this.recentNotes.push(`restart detected at ${at}: ${reason}; subscribed again and every point read`);
    if (this.recentNotes.length > 3) this.recentNotes.shift();
    this.log('restart', 'info', `restart detected (${reason}): COV subscriptions made again and every point read`, { reason, at });
  }

  /** The device answered (or notified, or announced itself). */
  private answered(): void {
    this.heard++;
    this.lastAnswerAt = Date.now();
  }

  /** Hears the I-Ams of the socket: one from the device while subscribed means it may have restarted. */
  private listen(client: BacnetClient): void {
    if (this.stopListening) return;
    const instance = this.connection.deviceInstance;
    this.stopListening = client.onIAm((iAm) => {
      if (this.closed || iAm.deviceInstance !== instance || this.askingWhoIs) return;
      const configured = this.connection.address;
      if (configured !== undefined && iAm.address !== normalizeAddress(configured)) return;
      // Found by Who-Is: a device that restarts may come back at another address.
      if (configured === undefined && this.address !== undefined && iAm.address !== normalizeAddress(this.address)) this.address = iAm.address;
      this.answered();
      this.iAmHeard = true;
    });
  }

  // ---- COV ---------------------------------------------------------------------------------

  /** Subscribes the points of `points` that should be and are not (first read, refused a while ago, dropped in a silence). */
  private async subscribe(client: BacnetClient, points: readonly PlannedPoint[]): Promise<void> {
    const now = Date.now();
    if (now < this.covRefusedUntil) return;
    const due = points.filter((p) => {
      const state = this.cov.get(p.id);
      return state && !state.subscription && !state.pending && state.retryAt <= now;
    });
    if (due.length === 0) return;
    // The first asks alone: a device without COV rejects it, and one that does not answer
    // costs one timeout, not one per point; the read that follows tells whether it is silent.
    const [first, ...rest] = due;
    if ((await this.subscribeOne(client, first!)) !== 'answered') return;
    await Promise.all(rest.map((p) => this.subscribeOne(client, p)));
  }

  /** Subscribes one point; says whether the device answered, or refused COV as a service, or did not answer. */
  private async subscribeOne(client: BacnetClient, p: PlannedPoint): Promise<'answered' | 'no-cov' | 'no-answer'> {
    const state = this.cov.get(p.id)!;
    state.pending = true;
    try {
      if (p.covIncrement && !state.incrementDone) await this.applyCovIncrement(client, p, state);
      const subscription = await client.subscribeCov(
        this.device,
        { type: p.objectType, instance: p.instance },
        {
          confirmed: this.connection.confirmedNotifications,
          lifetimeSeconds: this.lifetimeSeconds,
          onNotification: (n) => this.onNotification(p, n),
          onError: (error) => this.onRenewalError(p, error),
        },
      );
      this.answered();
      if (this.closed || this.silent) {
        void subscription.cancel().catch(() => undefined);
        return 'answered';
      }
      state.subscription = subscription;
      // A refusal logged before is logged again if it comes back.
      this.logged.delete(`cov:${p.id}`);
      this.logged.delete('cov');
      return 'answered';
    } catch (error) {
      const retryAt = Date.now() + this.lifetimeSeconds * 1000;
      // Asked again at the next read.
      if (error instanceof BacnetTimeoutError) return 'no-answer';
      if (error instanceof BacnetRejectError && error.reason === 'unrecognized-service') {
        this.covRefusedUntil = retryAt;
        this.log('cov', 'warn', `does not execute SubscribeCOV: its points are read at each interval; asked again in ${this.connection.covLifetime}`, {});
        return 'no-cov';
      }
      if (!(error instanceof BacnetError)) throw error;
      state.retryAt = retryAt;
      this.log(
        `cov:${p.id}`,
        'warn',
        `refused the COV subscription of ${p.object}: the point is read at each interval; asked again in ${this.connection.covLifetime}`,
        { point: p.id, err: errorReason(error) },
      );
      return 'answered';
    } finally {
      state.pending = false;
    }
  }

  private onNotification(p: PlannedPoint, n: CovNotification): void {
    if (this.closed) return;
    this.answered();
    const state = this.cov.get(p.id)!;
    if (n.presentValue) state.value = n.presentValue;
    state.confirmedAt = Date.now();
    // A notification carries the status flags, not the reliability: a fault's reliability is read at the next read.
    state.status = { statusFlags: n.statusFlags };
    state.needsStatus = n.statusFlags?.fault === true;
  }

  private onRenewalError(p: PlannedPoint, error: BacnetError): void {
    if (this.closed) return;
    const state = this.cov.get(p.id)!;
    const subscription = state.subscription;
    state.subscription = undefined;
    state.value = undefined;
    if (subscription) void subscription.cancel().catch(() => undefined);
    // No answer: the point is read at the next read, which tells whether the device is silent.
    if (error instanceof BacnetTimeoutError) return;
    state.retryAt = Date.now() + this.lifetimeSeconds * 1000;
    this.log(`cov:${p.id}`, 'warn', `refused to renew the COV subscription of ${p.object}: the point is read at each interval`, {
      point: p.id,
      err: errorReason(error),
    });
  }

  /** Writes the point's covIncrement to the object's COV_Increment when it differs; a refusal is logged, not fatal. */
  private async applyCovIncrement(client: BacnetClient, p: PlannedPoint, state: CovState): Promise<void> {
    const wanted = p.covIncrement!;
    const target = { objectType: p.objectType, instance: p.instance, property: P.COV_INCREMENT };
    try {
      const [current] = await client.readProperty(this.device, target);
      const value = Number(current?.value);
      if (Number.isFinite(value) && Math.abs(value - wanted.value) <= 1e-6 * Math.max(1, Math.abs(wanted.value))) {
        state.incrementDone = true;
        return;
      }
      await client.writeProperty(this.device, target, { tag: wanted.tag, value: wanted.value });
      state.incrementDone = true;
      this.log(`increment:${p.id}`, 'info', `COV_Increment of ${p.object} set to ${wanted.value} (was ${current?.value})`, { point: p.id });
    } catch (error) {
      if (error instanceof BacnetTimeoutError) throw error;
      if (!(error instanceof BacnetError)) throw error;
      state.incrementDone = true;
      this.log(
        `increment:${p.id}`,
        'warn',
        `cannot set the COV_Increment of ${p.object} to ${wanted.value}: the device notifies changes by its own increment`,
        { point: p.id, err: errorReason(error) },
      );
    }
  }

  // ---- writing -----------------------------------------------------------------------------

  private async command(pointId: string, value: number | boolean | string | null): Promise<void> {
    const p = writablePoint(this.byId, pointId, (point) => point.index);
    const client = await this.client();
    await this.connect(client);
    const sent = value === null ? null : await commandValue(p, value, () => this.numberOfStates(client, p));
    try {
      await client.writeProperty(this.device, { objectType: p.objectType, instance: p.instance, property: p.property }, sent, { priority: p.priority });
      this.answered();
      // The value notified before the write is no longer the device's: the read back after it
      // (and any read before the write's own notification) asks the device.
      const state = this.cov.get(pointId);
      if (state) delete state.value;
    } catch (error) {
      if (error instanceof BacnetServiceError || error instanceof BacnetRejectError) {
        throw new DeviceProtocolError(`${value === null ? 'relinquish' : 'write'} of ${p.object} refused: ${errorReason(error)}`, { cause: error });
      }
      throw this.deviceError(error);
    }
  }

  /** A multi-state object's number-of-states, read once; 4294967295 when the device does not say. */
  private async numberOfStates(client: BacnetClient, p: PlannedPoint): Promise<number> {
    const known = this.states.get(p.id);
    if (known !== undefined) return known;
    let states = 4294967295;
    try {
      const [value] = await client.readProperty(this.device, { objectType: p.objectType, instance: p.instance, property: P.NUMBER_OF_STATES });
      if (typeof value?.value === 'number' && Number.isInteger(value.value) && value.value >= 1) states = value.value;
      this.answered();
    } catch (error) {
      if (!(error instanceof BacnetServiceError || error instanceof BacnetRejectError)) throw this.deviceError(error);
    }
    this.states.set(p.id, states);
    return states;
  }

  /** Logs a message once per key until it changes, as the core does for device errors. */
  private log(key: string, level: 'info' | 'warn', message: string, fields: Record<string, unknown>): void {
    if (this.logged.get(key) === message) return;
    this.logged.set(key, message);
    this.logger[level](
      { device: this.deviceId, deviceInstance: this.connection.deviceInstance, ...fields },
      `BACnet device ${this.connection.deviceInstance}: ${message}`,
    );
  }
}
