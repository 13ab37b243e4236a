/**
 * Errors of the OPC UA client, each with a stable `code` and its cause chained. Their messages
 * are meant for a technician: what went wrong, and what to do about it.
 */
export class OpcuaError extends Error {
  /** Stable machine-readable code: `OPCUA_CONNECTION`, `OPCUA_BAD_CREDENTIALS`, … */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The server could not be reached, or the secure channel could not be opened. */
export class OpcuaConnectionError extends OpcuaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('OPCUA_CONNECTION', message, options);
  }
}

/** The server refused the user name and password (or the user is not allowed). */
export class OpcuaBadCredentialsError extends OpcuaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('OPCUA_BAD_CREDENTIALS', message, options);
  }
}

/** The server refused the identity given (anonymous not allowed, certificate not trusted, …). */
export class OpcuaIdentityRejectedError extends OpcuaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('OPCUA_IDENTITY_REJECTED', message, options);
  }
}

/**
 * The server's certificate is not trusted by us. It was put in our PKI folder's `rejected`
 * folder; trusting it (by thumbprint) lets the next connection through.
 */
export class OpcuaServerCertificateUntrustedError extends OpcuaError {
  /** SHA-1 thumbprint of the server's certificate, hexadecimal, lowercase. */
  readonly thumbprint: string;
  /** Subject of the server's certificate. */
  readonly subject: string;
  /** Where the certificate was put. */
  readonly file: string;

  /** Why our store refused it: `BadCertificateUntrusted`, `BadCertificateTimeInvalid`, … */
  readonly status: string;

  constructor(info: { thumbprint: string; subject: string; file: string; status: string }, options?: { cause?: unknown }) {
    super(
      'OPCUA_SERVER_CERTIFICATE_UNTRUSTED',
      `the server's certificate is not trusted by us (${info.status}): ${info.subject}, thumbprint ${info.thumbprint}; ` +
        `it was put in ${info.file}; trust it by its thumbprint if it is the right server`,
      options,
    );
    this.thumbprint = info.thumbprint;
    this.subject = info.subject;
    this.file = info.file;
    this.status = info.status;
  }
}

/** The server refused our application certificate: the server must trust it. */
export class OpcuaClientCertificateRejectedError extends OpcuaError {
  /** Our certificate, the file to give the server's administrator. */
  readonly certificateFile: string;

  constructor(certificateFile: string, detail: string, options?: { cause?: unknown }) {
    super(
      'OPCUA_CLIENT_CERTIFICATE_REJECTED',
      `the server refused our certificate (${detail}); the server must trust our certificate, which is ${certificateFile}`,
      options,
    );
    this.certificateFile = certificateFile;
  }
}

/** A read, write, browse or subscription request failed or was refused. */
export class OpcuaRequestError extends OpcuaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('OPCUA_REQUEST', message, options);
  }
}

/** A value the node cannot hold (its data type, its range, an array): refused before it is sent. */
export class OpcuaWriteRefusedError extends OpcuaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('OPCUA_WRITE_REFUSED', message, options);
  }
}
