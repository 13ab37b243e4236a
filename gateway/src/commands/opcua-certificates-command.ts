import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigFileError } from '@citypilot/sdk';
import { LogLevel, setLogLevel } from 'node-opcua-debug';
import {
  certificateThumbprint,
  clientCertificatePaths,
  listServerCertificates,
  readCertificateFile,
  trustServerCertificate,
  type SeenCertificate,
} from '@citypilot/protocol-opcua';
import { describeFailure, type CliIo } from './io.js';
import { gatewayDataDir } from '../config/data-dir.js';
import { pluginStateDir } from '../gateway.js';

/**
 * `citypilot gateway opcua-certificates list|trust …`: the certificates of the OPC UA servers the
 * gateway has met. With security Sign or SignAndEncrypt, the OPC UA driver refuses a server whose
 * certificate we do not trust, and files it as rejected in its certificate store; a technician
 * checks its thumbprint with the server's administrator and trusts it here. Trust is given one
 * certificate at a time, by thumbprint: there is deliberately no way to trust everything seen,
 * which would let any machine that answers on the server's address pass for it.
 */

export const OPCUA_CERTIFICATES_USAGE = `Usage: citypilot gateway opcua-certificates list FILE
       citypilot gateway opcua-certificates trust FILE THUMBPRINT

  list   the OPC UA servers' certificates the gateway of FILE has seen (rejected: refused until
         trusted; trusted), and our own certificate, the one a server's administrator must trust
  trust  trust the server certificate with this thumbprint (as list shows it; its first 8 or
         more hexadecimal digits are enough when no other certificate starts with them)

FILE is the gateway's configuration; only its dataDir is read (the store is
<dataDir>/plugins/opcua/pki), so this works while the rest of the file is being fixed.
Instead of FILE, --data-dir DIR names the data folder itself.`;

/** A command line these commands cannot run: it says what was expected. */
export class OpcuaCertificatesUsageError extends Error {}

/** The OPC UA driver's certificate store in a gateway's data folder. */
export function opcuaPkiDir(dataDir: string): string {
  return join(pluginStateDir(dataDir, 'opcua'), 'pki');
}

const day = (d: Date) => d.toISOString().slice(0, 10);

function describeValidity(from: Date, to: Date, now: Date): string {
  const warning = now > to ? ' — EXPIRED' : now < from ? ' — NOT YET VALID (check the clocks)' : '';
  return `valid ${day(from)} to ${day(to)}${warning}`;
}

function describeCertificate(c: SeenCertificate, now: Date): string[] {
  return [
    `${c.state.padEnd(8)}  ${c.thumbprint}  ${c.subject}`,
    `          ${describeValidity(c.validFrom, c.validTo, now)}${c.applicationUri ? `, application ${c.applicationUri}` : ''}`,
    `          ${c.file}`,
  ];
}

/** Our application certificate in the store, when the driver has made it. */
function describeOwnCertificate(pkiDir: string, now: Date): string[] {
  const { certificateFile } = clientCertificatePaths(pkiDir);
  if (!existsSync(certificateFile)) {
    return ['Our certificate: not made yet; the gateway makes it the first time it connects to an OPC UA server.'];
  }
  const der = readCertificateFile(certificateFile);
  const x509 = new X509Certificate(der);
  return [
    "Our certificate (give this file to each server's administrator, to be trusted by the server):",
    `  ${certificateFile}`,
    `  thumbprint ${certificateThumbprint(der)}, ${x509.subject.replace(/\n/g, ', ')}, ${describeValidity(new Date(x509.validFrom), new Date(x509.validTo), now)}`,
  ];
}

/** What `list` prints for the store in `pkiDir`. */
export function listOpcuaCertificates(pkiDir: string, now = new Date()): string {
  if (!existsSync(pkiDir)) {
    return [
      `No OPC UA certificate store in ${pkiDir} yet: the gateway makes it the first time it connects to an OPC UA server.`,
      'If the gateway has done so, check that this is its configuration or data folder.',
    ].join('\n');
  }
  // Rejected first: they are the ones waiting for a decision.
  const seen = listServerCertificates(pkiDir).sort((a, b) => (a.state === b.state ? 0 : a.state === 'rejected' ? -1 : 1));
  const lines = [`OPC UA certificate store: ${pkiDir}`, ''];
  if (!seen.length) {
    lines.push(
      "No server certificate seen yet: a server's certificate is filed here the first time the gateway connects to it with security Sign or SignAndEncrypt.",
    );
  } else {
    lines.push(`Server certificates (${seen.length}):`);
    for (const c of seen) lines.push(...describeCertificate(c, now));
    if (seen.some((c) => c.state === 'rejected')) {
      lines.push(
        '',
        "Check a rejected certificate's thumbprint with the server's administrator, then trust it:",
        '  citypilot gateway opcua-certificates trust FILE THUMBPRINT',
      );
    }
  }
  lines.push('', ...describeOwnCertificate(pkiDir, now));
  return lines.join('\n');
}

/**
 * Trusts the server certificate whose thumbprint is, or starts with, `thumbprint` (colons and
 * case ignored, at least 8 hexadecimal digits), and says what was trusted.
 * @throws OpcuaCertificatesUsageError when the thumbprint is malformed, matches no certificate
 *   seen (the message lists those known) or more than one
 */
export async function trustOpcuaCertificate(pkiDir: string, thumbprint: string, now = new Date()): Promise<string> {
  const wanted = thumbprint.replace(/[:\s]/g, '').toLowerCase();
  if (!/^[0-9a-f]{8,40}$/.test(wanted)) {
    throw new OpcuaCertificatesUsageError(`${JSON.stringify(thumbprint)} is not a thumbprint: expected its hexadecimal digits (8 to 40, as list shows them)`);
  }
  const seen = existsSync(pkiDir) ? listServerCertificates(pkiDir) : [];
  const matching = [...new Set(seen.filter((c) => c.thumbprint.startsWith(wanted)).map((c) => c.thumbprint))];
  const known = () =>
    seen.length
      ? `the certificates seen are:\n${seen.map((c) => `  ${c.state.padEnd(8)}  ${c.thumbprint}  ${c.subject}`).join('\n')}`
      : `no server certificate has been seen in ${pkiDir} yet: let the gateway connect to the server once, then list them`;
  if (matching.length === 0) throw new OpcuaCertificatesUsageError(`no server certificate with thumbprint ${wanted}; ${known()}`);
  if (matching.length > 1) throw new OpcuaCertificatesUsageError(`${wanted} is the start of ${matching.length} thumbprints: give more digits; ${known()}`);
  const before = seen.find((c) => c.thumbprint === matching[0] && c.state === 'trusted');
  if (before) return [`Already trusted:`, ...describeCertificate(before, now)].join('\n');
  const trusted = await trustServerCertificate(pkiDir, matching[0]!);
  const { certificateFile } = clientCertificatePaths(pkiDir);
  return [
    'Trusted:',
    ...describeCertificate(trusted, now),
    '',
    'The gateway accepts this server from its next connection attempt; no restart is needed.',
    existsSync(certificateFile)
      ? `The server must also trust our certificate, ${certificateFile}, if it does not yet.`
      : 'The server must also trust our certificate (list shows it once the gateway has made it).',
  ].join('\n');
}

/** Parses `list FILE`, `trust FILE THUMBPRINT`, with `--data-dir DIR` in place of FILE. */
function parseArgs(args: readonly string[]): { action: 'list' | 'trust'; dataDir: string; thumbprint?: string } {
  const [action, ...rest] = args;
  if (action !== 'list' && action !== 'trust') {
    throw new OpcuaCertificatesUsageError(`${action ? `unknown action ${JSON.stringify(action)}` : 'list or trust?'}\n\n${OPCUA_CERTIFICATES_USAGE}`);
  }
  let dataDir: string | undefined;
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const inline = /^--data-dir=(.*)$/.exec(arg);
    if (arg === '--data-dir' || inline) {
      const value = inline ? inline[1] : rest[++i];
      if (!value) throw new OpcuaCertificatesUsageError(`--data-dir needs the path of the gateway's data folder\n\n${OPCUA_CERTIFICATES_USAGE}`);
      dataDir = resolve(value);
    } else if (arg.startsWith('--')) {
      throw new OpcuaCertificatesUsageError(`unknown option ${arg}\n\n${OPCUA_CERTIFICATES_USAGE}`);
    } else {
      positional.push(arg);
    }
  }
  const expected = (dataDir ? 0 : 1) + (action === 'trust' ? 1 : 0);
  if (positional.length !== expected) {
    const what =
      action === 'trust'
        ? dataDir
          ? 'a thumbprint'
          : 'a configuration file and a thumbprint'
        : dataDir
          ? 'nothing besides --data-dir'
          : 'a configuration file';
    throw new OpcuaCertificatesUsageError(`opcua-certificates ${action} takes ${what}\n\n${OPCUA_CERTIFICATES_USAGE}`);
  }
  return {
    action,
    dataDir: dataDir ?? gatewayDataDir(positional[0]!),
    ...(action === 'trust' ? { thumbprint: positional.at(-1)! } : {}),
  };
}

/**
 * Runs `opcua-certificates <args>` and gives what to print.
 * @throws OpcuaCertificatesUsageError for a bad command line or thumbprint, ConfigFileError for
 *   an unreadable configuration file
 */
export async function runOpcuaCertificates(args: readonly string[]): Promise<string> {
  const { action, dataDir, thumbprint } = parseArgs(args);
  const pkiDir = opcuaPkiDir(dataDir);
  return action === 'list' ? listOpcuaCertificates(pkiDir) : await trustOpcuaCertificate(pkiDir, thumbprint!);
}

/**
 * `citypilot gateway opcua-certificates …` as a command line: resolves with the exit code, 0 done,
 * 1 failure, 2 bad usage, unknown thumbprint or unreadable configuration file.
 */
export async function runOpcuaCertificatesCli(args: readonly string[], io: CliIo): Promise<number> {
  // node-opcua prints its warnings on stdout, among what this command prints; the one it gives
  // on Node 20 once loaded (NODE-OPCUA-W27, about RSA PKCS#1 v1.5 channels) says nothing about
  // certificate files. Its errors still show.
  setLogLevel(LogLevel.Error);
  if (args.length === 0 || args.some((a) => a === '--help' || a === '-h' || a === 'help')) {
    io.out(OPCUA_CERTIFICATES_USAGE);
    return args.length ? 0 : 2;
  }
  try {
    io.out(await runOpcuaCertificates(args));
    return 0;
  } catch (error) {
    if (error instanceof OpcuaCertificatesUsageError || error instanceof ConfigFileError) {
      io.err(error.message);
      return 2;
    }
    io.err(describeFailure(error));
    return 1;
  }
}
