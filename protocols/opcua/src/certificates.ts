import { readFileSync } from 'node:fs';

/** The DER bytes of a certificate file, PEM (`-----BEGIN CERTIFICATE-----`) or DER. */
export function readCertificateFile(file: string): Buffer {
  const content = readFileSync(file);
  const text = content.toString('latin1');
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(text);
  return m ? Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64') : content;
}
