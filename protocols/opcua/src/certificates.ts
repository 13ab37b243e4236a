import { X509Certificate, createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';

/** The DER bytes of a certificate file, PEM (`-----BEGIN CERTIFICATE-----`) or DER. */
export function readCertificateFile(file: string): Buffer {
  const content = readFileSync(file);
  const text = content.toString('latin1');
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(text);
  return m ? Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64') : content;
}

/** SHA-1 thumbprint of a DER certificate, lowercase hexadecimal: what OPC UA tools show. */
export function certificateThumbprint(der: Buffer): string {
  return createHash('sha1').update(der).digest('hex');
}

/** A certificate of a server, as our certificate store holds it. */
export interface SeenCertificate {
  /** SHA-1 thumbprint, lowercase hexadecimal. */
  thumbprint: string;
  /** Subject, e.g. `CN=CityPilot OPC UA simulator`. */
  subject: string;
  /** Application URI from the subject alternative name, when there is one. */
  applicationUri?: string;
  validFrom: Date;
  validTo: Date;
  /** `trusted`: connections to its server go through; `rejected`: seen, refused until trusted. */
  state: 'trusted' | 'rejected';
  file: string;
}

/** Opens (creating it if missing) the certificate store in `pkiDir`; unknown certificates are refused. */
export async function openCertificateStore(pkiDir: string): Promise<OPCUACertificateManager> {
  const store = new OPCUACertificateManager({ rootFolder: pkiDir, automaticallyAcceptUnknownCertificate: false });
  await store.initialize();
  return store;
}

/** The server certificates the store in `pkiDir` has seen: trusted ones and rejected ones. */
export function listServerCertificates(pkiDir: string): SeenCertificate[] {
  const found: SeenCertificate[] = [];
  for (const [state, folder] of [
    ['trusted', join(pkiDir, 'trusted', 'certs')],
    ['rejected', join(pkiDir, 'rejected')],
  ] as const) {
    if (!existsSync(folder)) continue;
    for (const name of readdirSync(folder).sort()) {
      if (!/\.(pem|der)$/i.test(name)) continue;
      const file = join(folder, name);
      const der = readCertificateFile(file);
      const x509 = new X509Certificate(der);
      const uri = /URI:([^,\s]+)/.exec(x509.subjectAltName ?? '');
      found.push({
        thumbprint: certificateThumbprint(der),
        subject: x509.subject.replace(/\n/g, ', '),
        ...(uri ? { applicationUri: uri[1]! } : {}),
        validFrom: new Date(x509.validFrom),
        validTo: new Date(x509.validTo),
        state,
        file,
      });
    }
  }
  return found;
}

/**
 * Trusts the server certificate with this thumbprint (as {@link listServerCertificates} gives
 * it, case and colons ignored), moving it from rejected to trusted. Throws when no certificate
 * seen has this thumbprint.
 */
export async function trustServerCertificate(pkiDir: string, thumbprint: string): Promise<SeenCertificate> {
  const wanted = thumbprint.replace(/[:\s]/g, '').toLowerCase();
  const seen = listServerCertificates(pkiDir).find((c) => c.thumbprint === wanted);
  if (!seen) throw new Error(`no server certificate with thumbprint ${thumbprint} in ${pkiDir}: connect once to see it, then trust it`);
  if (seen.state === 'trusted') return seen;
  const store = await openCertificateStore(pkiDir);
  try {
    await store.trustCertificate(readCertificateFile(seen.file));
  } finally {
    await store.dispose();
  }
  return listServerCertificates(pkiDir).find((c) => c.thumbprint === wanted && c.state === 'trusted') ?? { ...seen, state: 'trusted' };
}
