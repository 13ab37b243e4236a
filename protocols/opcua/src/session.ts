// Connecting to an OPC UA server: our application certificate, the server's endpoints and the
// check of its certificate before a secure channel (so that a technician is told what to trust),
// the secure channel with reconnection, and the session with its identity, each refusal as the
// typed error that says what to do.
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  makeApplicationUrn,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  UserTokenType,
  type ClientSession,
  type EndpointDescription,
  type UserIdentityInfo,
} from 'node-opcua-client';
import type { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import { keyOperationsFromPrivateKey, readPrivateKey } from 'node-opcua-crypto';
import { certificateThumbprint, listServerCertificates, openCertificateStore, readCertificateFile } from './certificates.js';
import {
  OpcuaBadCredentialsError,
  OpcuaClientCertificateRejectedError,
  OpcuaConnectionError,
  OpcuaIdentityRejectedError,
  OpcuaServerCertificateUntrustedError,
} from './errors.js';
import { reason, statusName, type OpcuaConnectOptions, type OpcuaEndpoint, type OpcuaSecurityMode, type OpcuaSecurityPolicy } from './client-types.js';

const DEFAULT_APPLICATION_NAME = 'CityPilot gateway';

/** Our application URI: in our certificate and in the session, which must agree. */
function applicationUri(applicationName: string): string {
  // What node-opcua's client announces for this name, whatever its options say.
  return makeApplicationUrn(hostname(), applicationName);
}

/** Where our application certificate and private key are in a store. */
export function clientCertificatePaths(pkiDir: string): { certificateFile: string; privateKeyFile: string } {
  return { certificateFile: join(pkiDir, 'own', 'certs', 'client_certificate.pem'), privateKeyFile: join(pkiDir, 'own', 'private', 'private_key.pem') };
}

/**
 * Creates our application certificate in `pkiDir` if it is missing (a few seconds), and gives
 * its paths: the certificate to hand to a server's administrator for trust.
 */
export async function ensureClientCertificate(
  pkiDir: string,
  applicationName = DEFAULT_APPLICATION_NAME,
): Promise<{ certificateFile: string; privateKeyFile: string }> {
  const paths = clientCertificatePaths(pkiDir);
  const store = await openCertificateStore(pkiDir);
  try {
    if (!existsSync(paths.certificateFile)) {
      await store.createSelfSignedCertificate({
        applicationUri: applicationUri(applicationName),
        dns: [hostname()],
        subject: `/CN=${applicationName}/O=CityPilot`,
        startDate: new Date(),
        validity: 365 * 10,
        outputFile: paths.certificateFile,
      });
    }
  } finally {
    await store.dispose();
  }
  return paths;
}

const MODE_NAMES: Record<number, OpcuaSecurityMode> = {
  [MessageSecurityMode.None]: 'None',
  [MessageSecurityMode.Sign]: 'Sign',
  [MessageSecurityMode.SignAndEncrypt]: 'SignAndEncrypt',
};

const TOKEN_NAMES: Record<number, OpcuaEndpoint['userTokenTypes'][number]> = {
  [UserTokenType.Anonymous]: 'anonymous',
  [UserTokenType.UserName]: 'userName',
  [UserTokenType.Certificate]: 'certificate',
  [UserTokenType.IssuedToken]: 'issuedToken',
};

function describeEndpoint(e: EndpointDescription): OpcuaEndpoint {
  const policy = (e.securityPolicyUri ?? '').split('#').at(-1) as OpcuaSecurityPolicy;
  return {
    endpointUrl: e.endpointUrl ?? '',
    securityMode: MODE_NAMES[e.securityMode] ?? 'None',
    securityPolicy: policy,
    userTokenTypes: [...new Set((e.userIdentityTokens ?? []).map((t) => TOKEN_NAMES[t.tokenType]!).filter(Boolean))],
    ...(e.serverCertificate && e.serverCertificate.length > 0
      ? { serverCertificateThumbprint: certificateThumbprint(firstCertificate(e.serverCertificate)) }
      : {}),
  };
}

/** The first certificate of a DER chain (a server may send its certificate with its issuers). */
function firstCertificate(chain: Buffer): Buffer {
  // DER SEQUENCE: 0x30, then a length in short or long form.
  if (chain[0] !== 0x30) return chain;
  const first = chain[1]!;
  if (first < 0x80) return chain.subarray(0, 2 + first);
  const bytes = first & 0x7f;
  let length = 0;
  for (let i = 0; i < bytes; i++) length = length * 256 + chain[2 + i]!;
  return chain.subarray(0, 2 + bytes + length);
}

async function fetchEndpoints(endpointUrl: string, store: OPCUACertificateManager, requestTimeoutMs: number): Promise<EndpointDescription[]> {
  const client = OPCUAClient.create({
    applicationName: DEFAULT_APPLICATION_NAME,
    endpointMustExist: false,
    clientCertificateManager: store,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    requestedSessionTimeout: requestTimeoutMs,
  });
  try {
    await client.connect(endpointUrl);
    return await client.getEndpoints();
  } catch (err) {
    throw new OpcuaConnectionError(`cannot reach the OPC UA server at ${endpointUrl}: ${reason(err)}`, { cause: err });
  } finally {
    await client.disconnect().catch(() => undefined);
  }
}

/**
 * The endpoints a server offers, with their security modes, policies and the identities they
 * accept (OPC UA GetEndpoints over an unsecured channel, as the standard allows for discovery).
 */
export async function discoverEndpoints(endpointUrl: string, options: { pkiDir: string; requestTimeoutMs?: number }): Promise<OpcuaEndpoint[]> {
  const store = await openCertificateStore(options.pkiDir);
  try {
    return (await fetchEndpoints(endpointUrl, store, options.requestTimeoutMs ?? 10_000)).map(describeEndpoint);
  } finally {
    await store.dispose();
  }
}

/**
 * Connects and opens a session, as {@link OpcuaConnection.connect} says: the node-opcua client
 * (which reconnects by itself) and its session, with our certificate's path.
 */
export async function openSession(
  endpointUrl: string,
  options: OpcuaConnectOptions,
): Promise<{ client: OPCUAClient; session: ClientSession; certificateFile: string }> {
  const mode = options.securityMode ?? 'None';
  const policy = options.securityPolicy ?? (mode === 'None' ? 'None' : 'Basic256Sha256');
  const applicationName = options.applicationName ?? DEFAULT_APPLICATION_NAME;
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const { certificateFile, privateKeyFile } = await ensureClientCertificate(options.pkiDir, applicationName);
  const store = await openCertificateStore(options.pkiDir);
  if (mode !== 'None' || policy !== 'None') {
    // Check the server's certificate ourselves, before the secure channel: node-opcua would
    // refuse it too, but with a message that does not tell a technician what to do.
    const endpoints = await fetchEndpoints(endpointUrl, store, requestTimeoutMs).catch(async (err: unknown) => {
      await store.dispose();
      throw err;
    });
    const endpoint = endpoints.find((e) => MODE_NAMES[e.securityMode] === mode && e.securityPolicyUri?.endsWith(`#${policy}`));
    if (!endpoint) {
      await store.dispose();
      const offered = endpoints.map(describeEndpoint).map((e) => `${e.securityMode}/${e.securityPolicy}`);
      throw new OpcuaConnectionError(
        `the server at ${endpointUrl} offers no endpoint with security ${mode}/${policy}; it offers ${[...new Set(offered)].join(', ')}`,
      );
    }
    const serverCertificate = firstCertificate(endpoint.serverCertificate);
    const status = await store.checkCertificate(serverCertificate);
    if (!status.isGood()) {
      const thumbprint = certificateThumbprint(serverCertificate);
      if (!listServerCertificates(options.pkiDir).some((c) => c.thumbprint === thumbprint)) await store.rejectCertificate(serverCertificate);
      await store.dispose();
      const seen = listServerCertificates(options.pkiDir).find((c) => c.thumbprint === thumbprint);
      throw new OpcuaServerCertificateUntrustedError({
        thumbprint,
        subject: seen?.subject ?? '(unreadable subject)',
        file: seen?.file ?? join(options.pkiDir, 'rejected'),
        status: status.name,
      });
    }
  }
  const client = OPCUAClient.create({
    applicationName,
    applicationUri: applicationUri(applicationName),
    clientCertificateManager: store,
    certificateFile,
    privateKeyFile,
    securityMode: MessageSecurityMode[mode],
    securityPolicy: SecurityPolicy[policy],
    endpointMustExist: false,
    keepSessionAlive: true,
    requestedSessionTimeout: 60_000,
    // One retry for the first connection, so that a wrong address or a refusal is reported
    // soon (maxRetry 0 would also turn off reconnection). Once a connection breaks,
    // node-opcua retries forever with these delays.
    connectionStrategy: { maxRetry: 1, initialDelay: options.reconnectDelayMs?.initial ?? 250, maxDelay: options.reconnectDelayMs?.max ?? 5000 },
    transportTimeout: requestTimeoutMs,
  });
  try {
    await client.connect(endpointUrl);
  } catch (err) {
    await client.disconnect().catch(() => undefined);
    const status = statusName(err);
    if (mode !== 'None' && status && /^Bad(Certificate|SecurityChecksFailed)/.test(status)) {
      throw new OpcuaClientCertificateRejectedError(certificateFile, status, { cause: err });
    }
    throw new OpcuaConnectionError(`cannot connect to the OPC UA server at ${endpointUrl} (${mode}/${policy}): ${reason(err)}`, { cause: err });
  }
  const identity = options.identity ?? 'anonymous';
  let userIdentity: UserIdentityInfo;
  if (identity === 'anonymous') userIdentity = { type: UserTokenType.Anonymous };
  else if ('userName' in identity) userIdentity = { type: UserTokenType.UserName, userName: identity.userName, password: identity.password };
  else {
    userIdentity = {
      type: UserTokenType.Certificate,
      certificateData: readCertificateFile(identity.certificateFile),
      keyOperations: keyOperationsFromPrivateKey(readPrivateKey(identity.privateKeyFile)),
    };
  }
  try {
    const session = await client.createSession(userIdentity);
    session.requestedMaxReferencesPerNode = options.maxReferencesPerNode ?? 1000;
    return { client, session, certificateFile };
  } catch (err) {
    await client.disconnect().catch(() => undefined);
    const status = statusName(err) ?? 'refused';
    if (identity !== 'anonymous' && 'userName' in identity) {
      throw new OpcuaBadCredentialsError(`the server at ${endpointUrl} refused user "${identity.userName}": wrong user name or password (${status})`, {
        cause: err,
      });
    }
    if (identity !== 'anonymous') {
      throw new OpcuaIdentityRejectedError(
        `the server at ${endpointUrl} refused the user certificate ${identity.certificateFile} (${status}); the server must trust it as a user certificate`,
        { cause: err },
      );
    }
    throw new OpcuaIdentityRejectedError(
      `the server at ${endpointUrl} refused an anonymous session (${status}); give a user name and password or a certificate`,
      {
        cause: err,
      },
    );
  }
}
