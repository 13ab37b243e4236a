/** Errors of the Modbus client, each with a stable `code` and its cause chained. */
export class ModbusError extends Error {
  constructor(readonly code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** No answer within the request timeout. */
export class ModbusTimeoutError extends ModbusError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MODBUS_TIMEOUT', message, options);
  }
}

/** The connection could not be opened, or broke. */
export class ModbusConnectionError extends ModbusError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MODBUS_CONNECTION', message, options);
  }
}

const EXCEPTION_NAMES: Record<number, string> = {
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

/** The device answered with a Modbus exception. */
export class ModbusExceptionError extends ModbusError {
  /** Standard name of the exception code, e.g. "illegal data address". */
  readonly exceptionName: string;

  constructor(readonly exceptionCode: number, options?: { cause?: unknown }) {
    const name = EXCEPTION_NAMES[exceptionCode] ?? 'unknown exception';
    super('MODBUS_EXCEPTION', `${name} (exception ${exceptionCode})`, options);
    this.exceptionName = name;
  }
}
