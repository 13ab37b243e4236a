/**
 * Errors of the Modbus client, each with a stable `code` and its cause chained. They say what
 * happened on the wire; what that means for a device's points is for the caller to decide.
 */
export class ModbusError extends Error {
  /** Stable machine-readable code: `MODBUS_TIMEOUT`, `MODBUS_CONNECTION`, … */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** No connection, or no answer to a request, within the timeout. */
export class ModbusTimeoutError extends ModbusError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MODBUS_TIMEOUT', message, options);
  }
}

/** The connection could not be opened (refused, unknown host, …), or the client is closed. */
export class ModbusConnectionError extends ModbusError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MODBUS_CONNECTION', message, options);
  }
}

/** An answer that does not make sense (wrong length, bad frame). */
export class ModbusProtocolError extends ModbusError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MODBUS_PROTOCOL', message, options);
  }
}

/** Standard names of Modbus exception codes. */
const EXCEPTION_NAMES: Readonly<Record<number, string>> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};

/** The standard name of a Modbus exception code, e.g. 2 → "illegal data address". */
export function exceptionName(code: number): string {
  return EXCEPTION_NAMES[code] ?? 'unknown exception';
}

/**
 * The device answered with a Modbus exception. Its message is the same for the same code
 * ("illegal data address (exception 2)"), so that callers can report it as a reason.
 */
export class ModbusExceptionError extends ModbusError {
  /** The exception code of the answer: 2 is "illegal data address". */
  readonly exceptionCode: number;
  /** The code's standard name. */
  readonly exceptionName: string;

  constructor(exceptionCode: number, options?: { cause?: unknown }) {
    const name = exceptionName(exceptionCode);
    super('MODBUS_EXCEPTION', `${name} (exception ${exceptionCode})`, options);
    this.exceptionCode = exceptionCode;
    this.exceptionName = name;
  }
}
