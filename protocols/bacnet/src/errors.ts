import { AbortReason, ErrorClass, ErrorCode, RejectReason } from '@bacnet-js/client';

/**
 * Errors of the BACnet client, each with a stable `code` and its cause chained. They say what
 * happened on the wire (no answer, a Reject, an Abort, an Error PDU with its class and code);
 * what that means for a device's points is for the caller to decide.
 */
export class BacnetError extends Error {
  /** Stable machine-readable code: `BACNET_TIMEOUT`, `BACNET_ERROR`, `BACNET_REJECT`, … */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** No answer within the timeout, after every retry. */
export class BacnetTimeoutError extends BacnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BACNET_TIMEOUT', message, options);
  }
}

/** The local socket could not be opened (port taken, no such interface), or the client is closed. */
export class BacnetSocketError extends BacnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BACNET_SOCKET', message, options);
  }
}

/**
 * The device answered with an Error PDU (or, inside a ReadPropertyMultiple answer, an error for
 * one property): `errorClass` and `errorCode` are the standard's names, such as `object` /
 * `unknown-object` or `property` / `unknown-property`.
 */
export class BacnetServiceError extends BacnetError {
  readonly errorClass: string;
  readonly errorCode: string;
  readonly errorClassNumber: number;
  readonly errorCodeNumber: number;

  constructor(what: string, errorClass: number, errorCode: number, options?: { cause?: unknown }) {
    const className = enumName(ErrorClass, errorClass);
    const codeName = enumName(ErrorCode, errorCode);
    super('BACNET_ERROR', `${what}: the device answered error ${className}/${codeName}`, options);
    this.errorClass = className;
    this.errorCode = codeName;
    this.errorClassNumber = errorClass;
    this.errorCodeNumber = errorCode;
  }
}

/** The device rejected the request (a Reject PDU): it did not understand it or does not offer the service. */
export class BacnetRejectError extends BacnetError {
  /** The standard's name of the reject reason, such as `unrecognized-service`. */
  readonly reason: string;
  readonly reasonNumber: number;

  constructor(what: string, reason: number, options?: { cause?: unknown }) {
    const name = enumName(RejectReason, reason);
    super('BACNET_REJECT', `${what}: the device rejected the request (${name})`, options);
    this.reason = name;
    this.reasonNumber = reason;
  }
}

/**
 * The device aborted the transaction (an Abort PDU). `segmentation-not-supported` or
 * `buffer-overflow` mean the answer did not fit in one APDU of the device: ask for less at once.
 */
export class BacnetAbortError extends BacnetError {
  /** The standard's name of the abort reason, such as `segmentation-not-supported`. */
  readonly reason: string;
  readonly reasonNumber: number;

  constructor(what: string, reason: number, options?: { cause?: unknown }) {
    const name = enumName(AbortReason, reason);
    super('BACNET_ABORT', `${what}: the device aborted the request (${name})`, options);
    this.reason = name;
    this.reasonNumber = reason;
  }
}

/** An answer that could not be decoded, or that does not answer what was asked. */
export class BacnetProtocolError extends BacnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BACNET_PROTOCOL', message, options);
  }
}

/**
 * The standard's name of an enumerated value, in the lowercase-with-hyphens form of ASHRAE 135's
 * ASN.1 (`UNKNOWN_OBJECT` → `unknown-object`); the number itself when the library has no name for
 * it (proprietary values).
 */
export function enumName(enumeration: Record<string, string | number>, value: number): string {
  for (const [key, v] of Object.entries(enumeration)) {
    if (v === value && Number.isNaN(Number(key))) return key.toLowerCase().replaceAll('_', '-');
  }
  return String(value);
}
