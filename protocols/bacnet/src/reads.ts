// Reading properties: ReadPropertyMultiple requests planned to each device's APDU, ReadProperty
// for devices without it (or when told so), and the fallbacks that give every point its own
// answer or error (halves on aborts and undecodable answers, ReadProperty for what an answer
// left out). What a device can do comes from discovery, through the functions it is given.
import { AbortReason, ApplicationTag, ASN1_ARRAY_ALL, PropertyIdentifier, RejectReason, type BACNetBitString } from '@bacnet-js/client';
import { BacnetAbortError, BacnetError, BacnetProtocolError, BacnetRejectError, BacnetServiceError, BacnetSocketError, BacnetTimeoutError } from './errors.js';
import {
  describe,
  normalizeAddress,
  statusFlags,
  typed,
  type BacnetDevice,
  type BacnetDeviceInfo,
  type PointRead,
  type PointResult,
  type TypedValue,
} from './client-types.js';
import { planReadPropertyMultiple, type PropertyRef } from './planner.js';
import type { RequestChannel } from './request-channel.js';

const P = PropertyIdentifier;

/** One property's answer: its value (or values), or its own error. */
export interface RefResult {
  value?: unknown;
  values?: TypedValue[];
  error?: BacnetError;
}

function resultOf(values: TypedValue[]): RefResult {
  return { values, value: values.length === 1 ? values[0]!.value : values.map((v) => v.value) };
}

function refKey(type: number, instance: number, property: number, index: number): string {
  return `${type}:${instance}:${property}:${index}`;
}

/** What reads need to know of a device before choosing how to read it. */
export interface DeviceAbilities {
  /** The device's info (Device object), read once even when several reads ask at the same time. */
  info(device: BacnetDevice): Promise<BacnetDeviceInfo>;
  /** The largest APDU the device is already known to accept (from its info or its I-Am), by address. */
  knownMaxApdu(address: string): number | undefined;
}

/** Reads of one client's devices; `noRpm` remembers the devices that turned out to have no ReadPropertyMultiple. */
export class Reads {
  /** Devices found to reject ReadPropertyMultiple, by address. */
  private readonly noRpm = new Set<string>();

  constructor(
    private readonly channel: RequestChannel,
    private readonly devices: DeviceAbilities,
  ) {}

  /**
   * Reads points: ReadPropertyMultiple requests planned to the device's APDU (ReadProperty when
   * the device has no ReadPropertyMultiple or `readMethod` says so), at most
   * `maxRequestsInFlight` at once. One result per point, in order; a point's own error is in its
   * result. Rejects only when the client is closed.
   */
  async readPoints(device: BacnetDevice, points: readonly PointRead[]): Promise<PointResult[]> {
    const refs: PropertyRef[] = [];
    const layout = points.map((p) => {
      const start = refs.length;
      refs.push({ objectType: p.objectType, instance: p.instance, property: p.property ?? P.PRESENT_VALUE, arrayIndex: p.arrayIndex });
      if (p.withStatus)
        for (const property of [P.STATUS_FLAGS, P.RELIABILITY, P.OUT_OF_SERVICE]) refs.push({ objectType: p.objectType, instance: p.instance, property });
      return start;
    });
    const results = await this.readRefs(device, refs);
    return points.map((p, i) => {
      const r = results[layout[i]!]!;
      const result: PointResult = r.error ? { error: r.error } : { value: r.value, values: r.values };
      if (p.withStatus) {
        const [flags, reliability, outOfService] = [results[layout[i]! + 1]!, results[layout[i]! + 2]!, results[layout[i]! + 3]!];
        const bits = flags.values?.[0]?.value as BACNetBitString | undefined;
        if (bits && Array.isArray(bits.value)) result.statusFlags = statusFlags(bits);
        if (!reliability.error && typeof reliability.values?.[0]?.value === 'number') result.reliability = reliability.values[0].value;
        if (!outOfService.error && typeof outOfService.values?.[0]?.value === 'boolean') result.outOfService = outOfService.values[0].value;
      }
      return result;
    });
  }

  /** Reads one property with ReadProperty; throws the device's error. */
  async readProperty(device: BacnetDevice, ref: PropertyRef): Promise<TypedValue[]> {
    return this.readOne(device, ref);
  }

  /** One property by ReadProperty; throws the device's error. */
  async readOne(device: BacnetDevice, ref: PropertyRef): Promise<TypedValue[]> {
    const what = `read ${describe(ref)} of ${device.address}`;
    const result = await this.channel.request(device, what, (invokeId) =>
      this.channel.library.readProperty({ address: normalizeAddress(device.address) }, { type: ref.objectType, instance: ref.instance }, ref.property, {
        invokeId,
        arrayIndex: ref.arrayIndex ?? ASN1_ARRAY_ALL,
      }),
    );
    return result.values.map(typed);
  }

  /** Properties in order, each with its value or its own error; rejects only when the client is closed. */
  async readRefs(device: BacnetDevice, refs: readonly PropertyRef[]): Promise<RefResult[]> {
    const address = normalizeAddress(device.address);
    let method = device.readMethod ?? 'auto';
    let maxApdu = device.maxApdu ?? this.devices.knownMaxApdu(address);
    if (method === 'auto' && this.noRpm.has(address)) method = 'rp';
    if (method === 'auto' || (method === 'rpm' && maxApdu === undefined)) {
      // What the device can do comes from its Device object, read once; a device that does not
      // answer that fails each point with the same error, as it would fail each read.
      let info: BacnetDeviceInfo;
      try {
        info = await this.devices.info(device);
      } catch (error) {
        if (error instanceof BacnetError && !(error instanceof BacnetSocketError)) return refs.map(() => ({ error }));
        throw error;
      }
      if (method === 'auto') method = info.supportsReadPropertyMultiple ? 'rpm' : 'rp';
      maxApdu ??= info.maxApdu;
    }
    if (method === 'rp' || maxApdu === undefined) return Promise.all(refs.map((ref) => this.readByRp(device, ref)));
    const results = new Array<RefResult>(refs.length);
    // The library leaves an array index of 0 (the array's length) out of a ReadPropertyMultiple
    // request, which would ask for the whole array: those go by ReadProperty.
    const byRpm = refs.flatMap((ref, i) => (ref.arrayIndex === 0 ? [] : [i]));
    const plan = planReadPropertyMultiple(
      byRpm.map((i) => refs[i]!),
      { maxApdu },
    );
    await Promise.all([
      ...plan.map(async (request) => {
        const indexes = request.refs.map((k) => byRpm[k]!);
        const answers = await this.readByRpm(
          device,
          indexes.map((i) => refs[i]!),
          maxApdu,
        );
        indexes.forEach((refIndex, k) => (results[refIndex] = answers[k]!));
      }),
      ...refs.map(async (ref, i) => {
        if (ref.arrayIndex === 0) results[i] = await this.readByRp(device, ref);
      }),
    ]);
    return results;
  }

  private async readByRp(device: BacnetDevice, ref: PropertyRef): Promise<RefResult> {
    try {
      return resultOf(await this.readOne(device, ref));
    } catch (error) {
      if (error instanceof BacnetError && !(error instanceof BacnetSocketError)) return { error };
      throw error;
    }
  }

  /** One ReadPropertyMultiple; split in two and asked again when it fails otherwise than by silence, so that each point gets its own answer or error. */
  private async readByRpm(device: BacnetDevice, refs: readonly PropertyRef[], maxApdu: number): Promise<RefResult[]> {
    const address = normalizeAddress(device.address);
    if (this.noRpm.has(address)) return Promise.all(refs.map((ref) => this.readByRp(device, ref)));
    const specs: { objectId: { type: number; instance: number }; properties: { id: number; index: number }[] }[] = [];
    for (const ref of refs) {
      const last = specs.at(-1);
      const property = { id: ref.property, index: ref.arrayIndex ?? ASN1_ARRAY_ALL };
      if (last && last.objectId.type === ref.objectType && last.objectId.instance === ref.instance) last.properties.push(property);
      else specs.push({ objectId: { type: ref.objectType, instance: ref.instance }, properties: [property] });
    }
    const what = `ReadPropertyMultiple of ${refs.length} properties from ${device.address}`;
    try {
      const answer = await this.channel.request(device, what, (invokeId) =>
        this.channel.library.readPropertyMultiple({ address }, specs as never, { invokeId }),
      );
      const byKey = new Map<string, RefResult>();
      for (const object of answer.values ?? []) {
        for (const v of object.values ?? []) {
          const first = v.value?.[0] as { type?: number; value?: { errorClass?: number; errorCode?: number } } | undefined;
          const k = refKey(object.objectId.type, object.objectId.instance, v.id, v.index);
          if (first?.type === ApplicationTag.ERROR)
            byKey.set(k, {
              error: new BacnetServiceError(
                `read ${describe({ objectType: object.objectId.type, instance: object.objectId.instance, property: v.id })} of ${device.address}`,
                first.value?.errorClass ?? 0,
                first.value?.errorCode ?? 0,
              ),
            });
          else byKey.set(k, resultOf((v.value ?? []).map(typed)));
        }
      }
      // A property the answer has nothing for is read again by ReadProperty. The library decodes
      // constructed values it has no decoder for generically, and may run past their closing tag
      // into the next property (measured with the BACnet Stack project's demo server: the present
      // value of a credential-data-input swallowed the object-name after it), leaving that one
      // out; asked alone, it comes back.
      return await Promise.all(
        refs.map((ref) => byKey.get(refKey(ref.objectType, ref.instance, ref.property, ref.arrayIndex ?? ASN1_ARRAY_ALL)) ?? this.readByRp(device, ref)),
      );
    } catch (error) {
      if (!(error instanceof BacnetError) || error instanceof BacnetSocketError) throw error;
      if (error instanceof BacnetRejectError && error.reasonNumber === RejectReason.UNRECOGNIZED_SERVICE) {
        // The device does not execute ReadPropertyMultiple after all: ReadProperty from now on.
        this.noRpm.add(address);
        return Promise.all(refs.map((ref) => this.readByRp(device, ref)));
      }
      if (error instanceof BacnetTimeoutError) return refs.map(() => ({ error }));
      // An answer the library cannot decode at all (a value it fails on): each point asked on its
      // own, by ReadProperty in the end, so that the one at fault costs only itself.
      if (error instanceof BacnetProtocolError) {
        if (refs.length === 1) return [await this.readByRp(device, refs[0]!)];
        const half = Math.ceil(refs.length / 2);
        const [a, b] = await Promise.all([this.readByRpm(device, refs.slice(0, half), maxApdu), this.readByRpm(device, refs.slice(half), maxApdu)]);
        return [...a, ...b];
      }
      if (refs.length === 1) return refs.map(() => ({ error }));
      // Too long an answer (aborted), or an Error for the whole request from a device that answers
      // so when one object is unknown: ask again in halves until each point has its own answer.
      const tooLong =
        error instanceof BacnetAbortError &&
        [AbortReason.SEGMENTATION_NOT_SUPPORTED, AbortReason.BUFFER_OVERFLOW, AbortReason.APDU_TOO_LONG].includes(error.reasonNumber);
      if (!tooLong && !(error instanceof BacnetServiceError)) return refs.map(() => ({ error }));
      const half = Math.ceil(refs.length / 2);
      const [a, b] = await Promise.all([this.readByRpm(device, refs.slice(0, half), maxApdu), this.readByRpm(device, refs.slice(half), maxApdu)]);
      return [...a, ...b];
    }
  }
}
