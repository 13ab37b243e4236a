import { describe, expect, it } from 'vitest';
import { ConfigError, type ConfigIssue } from './errors.js';
import { checkEachPoint, repeatedIdIssues, writablePoint } from './point-checks.js';

describe('checkEachPoint', () => {
  it("reports a repeated id at the repetition, naming the first, before the plugin's own issues of that point", () => {
    const issues: ConfigIssue[] = [];
    const seen: [string, number][] = [];
    checkEachPoint([{ id: 'a' }, { id: 'b' }, { id: 'a' }, { id: 'a' }], issues, (p, index, issue) => {
      seen.push([p.id, index]);
      if (index >= 2) issue(['address', 'table'], 'is wrong');
    });
    expect(seen).toEqual([
      ['a', 0],
      ['b', 1],
      ['a', 2],
      ['a', 3],
    ]);
    expect(issues).toEqual([
      { path: ['points', 2, 'id'], message: '"a" is already the id of points[0]' },
      { path: ['points', 2, 'address', 'table'], message: 'is wrong' },
      { path: ['points', 3, 'id'], message: '"a" is already the id of points[0]' },
      { path: ['points', 3, 'address', 'table'], message: 'is wrong' },
    ]);
  });

  it("adds to the issues found before it (the connection's), and finds nothing in distinct ids", () => {
    const issues: ConfigIssue[] = [{ path: ['connection', 'host'], message: 'is required' }];
    checkEachPoint([{ id: 'a' }, { id: 'b' }], issues, () => undefined);
    expect(issues).toEqual([{ path: ['connection', 'host'], message: 'is required' }]);
  });
});

describe('repeatedIdIssues', () => {
  it('lists every repetition, with its path in the list', () => {
    expect(repeatedIdIssues([{ id: 'x' }, { id: 'y' }, { id: 'x' }, { id: 'y' }])).toEqual([
      { path: ['points', 2, 'id'], message: '"x" is already the id of points[0]' },
      { path: ['points', 3, 'id'], message: '"y" is already the id of points[1]' },
    ]);
    expect(repeatedIdIssues([{ id: 'x' }, { id: 'x' }], ['nodeRed', 'points'])).toEqual([
      { path: ['nodeRed', 'points', 1, 'id'], message: '"x" is already the id of points[0]' },
    ]);
    expect(repeatedIdIssues([])).toEqual([]);
  });
});

describe('writablePoint', () => {
  const points = new Map([
    ['setpoint', { id: 'setpoint', writable: true, index: 0 }],
    ['energy', { id: 'energy', writable: false, index: 3 }],
  ]);

  it('returns a writable point', () => {
    expect(writablePoint(points, 'setpoint', (p) => p.index)).toBe(points.get('setpoint'));
  });

  it('refuses an unknown point and one that is not writable, with the path of the setting', () => {
    expect(() => writablePoint(points, 'nope', (p) => p.index)).toThrow(ConfigError);
    expect(() => writablePoint(points, 'nope', (p) => p.index)).toThrow(
      expect.objectContaining({ issues: [{ path: ['points'], message: 'the device has no point "nope"' }] }),
    );
    expect(() => writablePoint(points, 'energy', (p) => p.index)).toThrow(
      expect.objectContaining({ issues: [{ path: ['points', 3, 'writable'], message: 'is false: the gateway may not write this point' }] }),
    );
  });
});
