import { ConfigError, type ConfigIssue, type ConfigPath } from './errors.js';

/**
 * The checks every plugin makes of its points, worded once so that a technician reads the same
 * message whatever the protocol: a point id used twice when a configuration is checked, and a
 * write (or relinquish) of a point that is unknown or not writable when the gateway commands it.
 * A plugin's own rules (its address's cross-field rules) go in the callback of
 * {@link checkEachPoint}.
 */

/** Records a problem of one point, at a path relative to that point (`['address', 'type']`). */
export type PointIssue = (path: ConfigPath, message: string) => void;

/**
 * Goes through a device's `points` in order, as a plugin's `create()` checks them: a point whose
 * id an earlier point already has gets the issue `"a" is already the id of points[0]` at its
 * `id`, then `check` sees every point with its index and a function that records an issue under
 * `points[index]`. Issues are pushed onto `issues`, in the order of the block, so that a plugin
 * reports every problem of a device at once; `check` may compare `issues.length` before and
 * after to skip planning a point it found wrong.
 */
export function checkEachPoint<P extends { id: string }>(
  points: readonly P[],
  issues: ConfigIssue[],
  check: (point: P, index: number, issue: PointIssue) => void,
): void {
  const firstIndex = new Map<string, number>();
  points.forEach((point, index) => {
    const issue: PointIssue = (path, message) => issues.push({ path: ['points', index, ...path], message });
    const repeated = repeatedIdIssue(firstIndex, point.id, index);
    if (repeated) issues.push(repeated);
    check(point, index, issue);
  });
}

/**
 * The ids of `items` used more than once, one issue per repetition at `<path>[index].id`
 * (`"a" is already the id of points[0]`), for lists of points a plugin checks nothing else of
 * (the virtual points of Node-RED flows). `path` is where the list is, relative to what was
 * validated; its last part names the list in the message.
 */
export function repeatedIdIssues(items: readonly { id: string }[], path: ConfigPath = ['points']): ConfigIssue[] {
  const firstIndex = new Map<string, number>();
  const issues: ConfigIssue[] = [];
  items.forEach((item, index) => {
    const repeated = repeatedIdIssue(firstIndex, item.id, index, path);
    if (repeated) issues.push(repeated);
  });
  return issues;
}

/** The issue of `id` at `index` when an earlier item has it; else records it as the first. */
function repeatedIdIssue(firstIndex: Map<string, number>, id: string, index: number, path: ConfigPath = ['points']): ConfigIssue | undefined {
  const first = firstIndex.get(id);
  if (first === undefined) {
    firstIndex.set(id, index);
    return undefined;
  }
  const list = String(path[path.length - 1] ?? 'points');
  return { path: [...path, index, 'id'], message: `${JSON.stringify(id)} is already the id of ${list}[${first}]` };
}

/**
 * The point a write or a relinquish names, once it is known that the gateway may write it.
 * @param indexOf the point's index in the device's `points`, for the error's path
 * @throws ConfigError `the device has no point "x"` at `points`, or `is false: the gateway may
 *   not write this point` at `points[i].writable`
 */
export function writablePoint<P extends { writable: boolean }>(points: ReadonlyMap<string, P>, pointId: string, indexOf: (point: P) => number): P {
  const point = points.get(pointId);
  if (!point) throw new ConfigError([{ path: ['points'], message: `the device has no point ${JSON.stringify(pointId)}` }]);
  if (!point.writable) throw new ConfigError([{ path: ['points', indexOf(point), 'writable'], message: 'is false: the gateway may not write this point' }]);
  return point;
}
