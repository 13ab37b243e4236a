import { describe, expect, it } from 'vitest';
import { BATCH_VERSION, batchMessageId, decodeBatch, encodeBatch, isBatchMessageId, type Batch } from './batch.js';
import { DecodeError } from './errors.js';

const text = (s: string) => new TextEncoder().encode(s);

describe('batch encoding', () => {
  const batch: Batch = {
    v: BATCH_VERSION,
    gateway: 'town-hall',
    seq: 42,
    createdAt: 1_767_225_600_000,
    samples: [
      { point: 'meters.energy', time: 1_767_225_600_000, value: 12.5, quality: 'good' },
      { point: 'meters.temp', time: 1_767_225_600_000, value: null, quality: 'bad', reason: 'timeout' },
    ],
  };

  it('round-trips and names the JetStream message id after gateway and sequence', () => {
    expect(decodeBatch(encodeBatch(batch))).toEqual(batch);
    expect(batchMessageId(batch)).toBe('town-hall:42');
    expect(batchMessageId(batch, 'k3y')).toBe('town-hall:k3y:42');
  });

  it("tells a gateway's own message ids from those of another gateway or another batch", () => {
    expect(isBatchMessageId('town-hall:42', 'town-hall', 42)).toBe(true);
    expect(isBatchMessageId('town-hall:0f3a:42', 'town-hall', 42)).toBe(true);
    expect(isBatchMessageId('town-hall:42', 'school', 42)).toBe(false);
    expect(isBatchMessageId('town-hall-annex:42', 'town-hall', 42)).toBe(false);
    expect(isBatchMessageId('town-hall:43', 'town-hall', 42)).toBe(false);
    expect(isBatchMessageId('town-hall:0f3a:142', 'town-hall', 42)).toBe(false);
    expect(isBatchMessageId('town-hall::42', 'town-hall', 42)).toBe(false);
    expect(isBatchMessageId('town-hall:a:b:42', 'town-hall', 42)).toBe(false);
    expect(isBatchMessageId('', 'town-hall', 42)).toBe(false);
  });

  it.each([
    ['not JSON', '{"v":1,', /^batch is not valid JSON: /],
    ['another version', '{"v":2,"gateway":"a","seq":1,"createdAt":0,"samples":[]}', /^batch version 2 is not supported \(expected 1\)$/],
    [
      'a sequence of 0',
      '{"v":1,"gateway":"a","seq":0,"createdAt":0,"samples":[]}',
      /^batch is malformed at seq: Expected integer to be greater or equal to 1$/,
    ],
    [
      'an unknown quality',
      '{"v":1,"gateway":"a","seq":1,"createdAt":0,"samples":[{"point":"p","time":0,"value":1,"quality":"great"}]}',
      /^batch is malformed at samples\[0\]\.quality: /,
    ],
    ['a gateway id with a dot', '{"v":1,"gateway":"a.b","seq":1,"createdAt":0,"samples":[]}', /^batch is malformed at gateway: /],
  ])('rejects %s with a DecodeError saying where', (_name, input, message) => {
    let error: unknown;
    try {
      decodeBatch(text(input));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DecodeError);
    expect((error as Error).message).toMatch(message);
  });
});
