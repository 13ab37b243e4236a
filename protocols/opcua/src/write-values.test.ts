import { describe, expect, it } from 'vitest';
import { writableValue, writeRefusal } from './write-values.js';

const node = 'ns=1;s=X';
const scalar = (dataType: string) => ({ dataType, valueRank: -1 });

describe('values checked against a node before a write', () => {
  it('takes dates as milliseconds or ISO 8601, localized texts as strings, and says what else it cannot write', () => {
    expect(writableValue(node, scalar('DateTime'), Date.UTC(2026, 0, 1))).toEqual({ value: new Date(Date.UTC(2026, 0, 1)) });
    expect(writableValue(node, scalar('DateTime'), '2026-01-01T00:00:00Z')).toEqual({ value: new Date(Date.UTC(2026, 0, 1)) });
    expect(writableValue(node, scalar('DateTime'), 'tomorrow')).toEqual({
      refused: expect.stringMatching(/^"tomorrow" is not a date: node ns=1;s=X is DateTime \(milliseconds since 1970 or an ISO 8601/),
    });
    expect(writableValue(node, scalar('LocalizedText'), 'Marche')).toEqual({ value: { text: 'Marche' } });
    expect(writableValue(node, scalar('ByteString'), 'AQI=')).toEqual({
      refused: 'node ns=1;s=X is ByteString, which the gateway does not write (it writes numbers, Booleans, strings and dates)',
    });
    expect(writableValue(node, scalar('Double'), Number.NaN)).toEqual({ refused: 'NaN is not a finite number: node ns=1;s=X is Double' });
    expect(writableValue(node, scalar('Float'), -3.4e38)).toEqual({ value: -3.4e38 });
  });

  it('refuses a node that holds an array, whatever the value', () => {
    for (const valueRank of [0, 1, 2]) {
      expect(writableValue(node, { dataType: 'Double', valueRank }, 1)).toEqual({
        refused: `node ns=1;s=X holds an array (ValueRank ${valueRank}): the gateway writes single values only`,
      });
    }
    // -2 (any) and -3 (scalar or one dimension) may hold one value.
    expect(writableValue(node, { dataType: 'Double', valueRank: -2 }, 1)).toEqual({ value: 1 });
    expect(writableValue(node, { dataType: 'Double', valueRank: -3 }, 1)).toEqual({ value: 1 });
  });

  it("says a server's refusal with its status name and what it means", () => {
    expect(writeRefusal(node, 'BadUserAccessDenied')).toBe(
      'the server refused to write ns=1;s=X: BadUserAccessDenied (the server does not let this user write the node)',
    );
    expect(writeRefusal(node, 'BadSomethingNew')).toBe('the server refused to write ns=1;s=X: BadSomethingNew');
  });
});
