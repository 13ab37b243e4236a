import { CityPilotError, formatPath } from '@citypilot/wire';

/**
 * Typed, coded errors shared by every CityPilot component. Each error carries a stable `code`
 * that logs, metrics and tests can match on, and chains its cause (`new X(msg, { cause })`).
 * An error is reported once: either thrown or recorded, never logged and then thrown.
 * The base class, the decoding error and formatPath are declared with the wire contract, at the
 * bottom of the packages, so that gateways and the hub share them: re-exported here.
 */
export { CityPilotError, DecodeError, formatPath } from '@citypilot/wire';

/** A location inside a configuration document: property names and array indexes from the root. */
export type ConfigPath = ReadonlyArray<string | number>;

/** One problem found in a configuration: where it is and what was expected there. */
export interface ConfigIssue {
  /** Path from the root of the document (or of the block handed to a plugin). */
  path: ConfigPath;
  /** What was expected, in words a technician understands: "an integer from 0 to 65535". */
  message: string;
}

/**
 * A configuration that cannot be used. Raised before any I/O, by schema validation or by a
 * plugin's cross-field checks in `create()`. Paths are relative to what was validated; the
 * gateway prefixes them and adds the file, line and column.
 */
export class ConfigError extends CityPilotError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], options?: { cause?: unknown }) {
    super('CONFIG_INVALID', issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('\n'), options);
    this.issues = issues;
  }

  /** The same issues with `prefix` put in front of every path (a plugin's block inside the file). */
  prefixed(prefix: ConfigPath): ConfigError {
    return new ConfigError(this.issues.map((i) => ({ path: [...prefix, ...i.path], message: i.message })));
  }
}

/** A device did not answer within its timeout. */
export class DeviceTimeoutError extends CityPilotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DEVICE_TIMEOUT', message, options);
  }
}

/** The device cannot be reached: connection refused or reset, serial line missing, and so on. */
export class DeviceUnreachableError extends CityPilotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DEVICE_UNREACHABLE', message, options);
  }
}

/** The device answered, but with an exception code or a frame that does not make sense. */
export class DeviceProtocolError extends CityPilotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DEVICE_PROTOCOL', message, options);
  }
}
