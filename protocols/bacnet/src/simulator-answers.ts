// How the simulated BACnet device answers: each answer encoded with the library's encoders and
// checked against its own and the requester's max APDU, sent in segments (window size 1, each
// acknowledged) when both sides can, else aborted; Error, Reject and Abort PDUs. Used by the
// service handlers of simulator.ts and by its COV notifications.
import { AbortReason, ErrorClass, ErrorCode, PduType, RejectReason, type EncodeBuffer } from '@bacnet-js/client';
import { encodeAbort, encodeComplexAck, encodeError, encodeSimpleAck } from '@bacnet-js/client/dist/lib/apdu.js';
import { encode as encodeBvlc } from '@bacnet-js/client/dist/lib/bvlc.js';
import { encode as encodeNpdu } from '@bacnet-js/client/dist/lib/npdu.js';
import { ErrorService } from '@bacnet-js/client/dist/lib/services/index.js';
import type { MaxApdu, SegmentationSupport } from './simulator-objects.js';
import { rejectDatagram, type UdpTransport } from './transport.js';

/** A confirmed request being answered: who asked, and what answer it accepts. */
export interface RequestContext {
  sender: { address?: string; net?: number; adr?: number[] };
  invokeId: number;
  service: number;
  /** Largest answer the requester accepts, in octets. */
  maxApduAccepted: number;
  /** The requester accepts a segmented answer (SA bit), of at most this many segments (0: unspecified). */
  segmentedAccepted: boolean;
  maxSegments: number;
}

/** A segmented answer on its way: its segments, and the one awaiting its Segment-ACK. */
interface SegmentedAnswer {
  ctx: RequestContext;
  segments: Buffer[];
  next: number;
  tries: number;
  timer?: NodeJS.Timeout;
}

/** Max-segments-accepted codes (clause 20.1.2.4): 0 unspecified, then 2, 4, … 64, and more than 64. */
export const MAX_SEGMENTS_BY_CODE = [0, 2, 4, 8, 16, 32, 64, 255] as const;

/** The simulator's counters this module keeps (see BacnetSimulatorStats). */
export interface AnswerCounters {
  aborts: number;
  largestApdu: number;
  segmentedAnswers: number;
  segmentsSent: number;
}

/** What the device answers with: its max APDU, segmentation and segment timeout. */
export interface AnswerSettings {
  maxApdu: MaxApdu;
  segmentation: SegmentationSupport;
  segmentTimeoutMs: number;
}

/** The answers of one simulated device, and the segmented ones on their way. */
export class Answers {
  private readonly segmented = new Map<string, SegmentedAnswer>();

  /** `transport` is the device's socket while started, undefined while stopped. */
  constructor(
    private readonly settings: AnswerSettings,
    private readonly stats: AnswerCounters,
    private readonly transport: () => UdpTransport | undefined,
  ) {}

  /** Forgets the segmented answers on their way (the device stops). */
  clear(): void {
    for (const answer of this.segmented.values()) clearTimeout(answer.timer);
    this.segmented.clear();
  }

  buffer(): EncodeBuffer {
    // Large enough for any answer built before its size is checked (an object-list of thousands).
    return { buffer: Buffer.allocUnsafe(64 * 1024), offset: 4 };
  }

  sendBvlc(buffer: EncodeBuffer, to: string): void {
    encodeBvlc(buffer.buffer, 0x0a /* Original-Unicast-NPDU */, buffer.offset);
    this.transport()?.send(buffer.buffer, buffer.offset, to);
  }

  private reply(ctx: RequestContext, encodeApdu: (buffer: EncodeBuffer) => void): void {
    const to = ctx.sender.address;
    if (!to) return;
    const buffer = this.buffer();
    encodeNpdu(buffer, 0, ctx.sender);
    const start = buffer.offset;
    encodeApdu(buffer);
    const length = buffer.offset - start;
    const limit = Math.min(this.settings.maxApdu, ctx.maxApduAccepted);
    if (length > limit) {
      const canSegment = (this.settings.segmentation === 'both' || this.settings.segmentation === 'transmit') && ctx.segmentedAccepted;
      if (canSegment && (buffer.buffer[start]! & 0xf0) === PduType.COMPLEX_ACK) {
        // The service data after the Complex-ACK's three header octets, cut to fit segments of five.
        return this.sendSegmented(ctx, Buffer.from(buffer.buffer.subarray(start + 3, buffer.offset)), limit - 5);
      }
      // Clause 5.4.5.2: an answer longer than one APDU that cannot be segmented is aborted.
      this.stats.aborts++;
      return this.abort(ctx, AbortReason.SEGMENTATION_NOT_SUPPORTED);
    }
    this.stats.largestApdu = Math.max(this.stats.largestApdu, length);
    this.sendBvlc(buffer, to);
  }

  private sendSegmented(ctx: RequestContext, data: Buffer, segmentSize: number): void {
    const count = Math.ceil(data.length / segmentSize);
    const allowed = ctx.maxSegments === 0 ? 255 : ctx.maxSegments;
    if (count > allowed || count > 255) {
      // More segments than the requester takes: abort, buffer-overflow (clause 5.4.5.2).
      this.stats.aborts++;
      return this.abort(ctx, AbortReason.BUFFER_OVERFLOW);
    }
    const segments = Array.from({ length: count }, (_, i) => data.subarray(i * segmentSize, (i + 1) * segmentSize));
    const answer: SegmentedAnswer = { ctx, segments, next: 0, tries: 0 };
    this.segmented.set(`${ctx.sender.address}/${ctx.invokeId}`, answer);
    this.stats.segmentedAnswers++;
    this.sendSegment(answer);
  }

  private sendSegment(answer: SegmentedAnswer): void {
    const { ctx, segments, next } = answer;
    const to = ctx.sender.address;
    if (!to || !this.transport()) return;
    const buffer = this.buffer();
    encodeNpdu(buffer, 0, ctx.sender);
    const more = next < segments.length - 1 ? 0x04 : 0;
    encodeComplexAck(buffer, PduType.COMPLEX_ACK | 0x08 | more, ctx.service, ctx.invokeId, next, 1);
    segments[next]!.copy(buffer.buffer, buffer.offset);
    buffer.offset += segments[next]!.length;
    this.stats.segmentsSent++;
    this.stats.largestApdu = Math.max(this.stats.largestApdu, 5 + segments[next]!.length);
    this.sendBvlc(buffer, to);
    if (answer.timer) clearTimeout(answer.timer);
    answer.timer = setTimeout(() => {
      // No Segment-ACK: send the segment again, three tries in all, then give the answer up.
      if (++answer.tries >= 3) return this.segmented.delete(`${to}/${ctx.invokeId}`);
      this.sendSegment(answer);
    }, this.settings.segmentTimeoutMs);
    answer.timer.unref();
  }

  /** A Segment-ACK from the requester: the next segment, or the end of the answer. */
  onSegmentAck(from: string, invokeId: number, sequence: number, negative: boolean): void {
    const id = `${from}/${invokeId}`;
    const answer = this.segmented.get(id);
    if (!answer) return;
    if (answer.timer) clearTimeout(answer.timer);
    // A negative ack names the last segment received in order: go on from the one after it.
    answer.next = negative ? sequence + 1 : Math.max(answer.next, sequence + 1);
    answer.tries = 0;
    if (answer.next >= answer.segments.length) {
      this.segmented.delete(id);
      return;
    }
    this.sendSegment(answer);
  }

  complexAck(ctx: RequestContext, encodeBody: (buffer: EncodeBuffer) => void): void {
    this.reply(ctx, (buffer) => {
      encodeComplexAck(buffer, PduType.COMPLEX_ACK, ctx.service, ctx.invokeId);
      encodeBody(buffer);
    });
  }

  simpleAck(ctx: RequestContext): void {
    this.reply(ctx, (buffer) => encodeSimpleAck(buffer, PduType.SIMPLE_ACK, ctx.service, ctx.invokeId));
  }

  error(ctx: RequestContext, errorClass: ErrorClass, errorCode: ErrorCode): void {
    this.reply(ctx, (buffer) => {
      encodeError(buffer, PduType.ERROR, ctx.service, ctx.invokeId);
      ErrorService.encode(buffer, errorClass, errorCode);
    });
  }

  abort(ctx: RequestContext, reason: AbortReason): void {
    const to = ctx.sender.address;
    if (!to) return;
    const buffer = this.buffer();
    encodeNpdu(buffer, 0, ctx.sender);
    // 0x01: sent by the server.
    encodeAbort(buffer, PduType.ABORT | 0x01, ctx.invokeId, reason);
    this.sendBvlc(buffer, to);
  }

  reject(to: string, invokeId: number, reason: RejectReason): void {
    if (to) this.transport()?.sendDatagram(rejectDatagram(invokeId, reason), to);
  }
}
