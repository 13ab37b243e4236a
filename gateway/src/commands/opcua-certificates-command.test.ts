import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildingNodeId,
  clientCertificatePaths,
  OpcuaClientCertificateRejectedError,
  OpcuaConnection,
  OpcuaServerCertificateUntrustedError,
  OpcuaSimulator,
} from '@citypilot/protocol-opcua';
import type { CliIo } from './io.js';
import { runGatewayCli } from './gateway-cli.js';
import { pluginStateDir } from '../gateway.js';
import { opcuaPkiDir } from './opcua-certificates-command.js';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli.js');

async function gatewayCli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => (out += t + '\n'), err: (t) => (err += t + '\n') };
  const code = await runGatewayCli(args, io);
  return { code, out, err };
}

async function connectionError(url: string, pkiDir: string): Promise<unknown> {
  return await OpcuaConnection.connect(url, { pkiDir, securityMode: 'SignAndEncrypt' }).then(
    async (connection) => {
      await connection.close();
      return undefined;
    },
    (error: unknown) => error,
  );
}

describe('citypilot gateway opcua-certificates', () => {
  let root: string;
  let configFile: string;
  let dataDir: string;
  let simulator: OpcuaSimulator;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'citypilot-opcua-certs-'));
    dataDir = join(root, 'var', 'gateway');
    configFile = join(root, 'gateway.yaml');
    // Only dataDir is read: the device block is there as a technician would have it, whether or
    // not the gateway at hand knows the opcua plugin yet.
    writeFileSync(
      configFile,
      [
        'gateway: { id: town-hall }',
        'dataDir: var/gateway',
        'devices:',
        '  - id: bms',
        '    plugin: opcua',
        '    connection: { endpointUrl: "opc.tcp://127.0.0.1:4840", securityMode: SignAndEncrypt }',
        '    points: [{ id: supply-temp, address: { nodeId: "ns=1;s=Building.AHU1.SupplyAirTemperature" } }]',
        '',
      ].join('\n'),
    );
    simulator = new OpcuaSimulator({ pkiDir: join(root, 'server-pki') });
    await simulator.start();
  });

  afterAll(async () => {
    await simulator?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('lists the server certificate a secure connection refused, trusts it by thumbprint prefix, and the connection then goes through', async () => {
    const pkiDir = opcuaPkiDir(dataDir);
    expect(pkiDir).toBe(join(pluginStateDir(dataDir, 'opcua'), 'pki'));

    const empty = await gatewayCli('opcua-certificates', 'list', configFile);
    expect(empty.code).toBe(0);
    expect(empty.out).toContain(`No OPC UA certificate store in ${pkiDir} yet`);

    // What the driver meets at its first connection: a server we do not trust yet.
    const untrusted = await connectionError(simulator.endpointUrl, pkiDir);
    expect(untrusted).toBeInstanceOf(OpcuaServerCertificateUntrustedError);
    const { thumbprint, file } = untrusted as OpcuaServerCertificateUntrustedError;

    const listed = await gatewayCli('opcua-certificates', 'list', configFile);
    expect(listed.code).toBe(0);
    expect(listed.out).toContain(`OPC UA certificate store: ${pkiDir}`);
    expect(listed.out).toMatch(
      new RegExp(
        `Server certificates \\(1\\):\\nrejected  ${thumbprint}  O=CityPilot, CN=CityPilot OPC UA simulator\\n +valid \\d{4}-\\d\\d-\\d\\d to \\d{4}-\\d\\d-\\d\\d, application urn:citypilot:opcua-simulator\\n +${escape(file)}\\n`,
      ),
    );
    expect(listed.out).toContain('citypilot gateway opcua-certificates trust FILE THUMBPRINT');
    const ours = clientCertificatePaths(pkiDir).certificateFile;
    expect(listed.out).toMatch(
      new RegExp(
        `Our certificate \\(give this file to each server's administrator.*\\n  ${escape(ours)}\\n  thumbprint [0-9a-f]{40}, O=CityPilot, CN=CityPilot gateway`,
      ),
    );

    // Colons and capitals, as another tool may show the thumbprint; the first 10 digits suffice.
    const prefix = thumbprint
      .slice(0, 10)
      .toUpperCase()
      .replace(/(..)(?=.)/g, '$1:');
    const trusted = await gatewayCli('opcua-certificates', 'trust', configFile, prefix);
    expect(trusted.err).toBe('');
    expect(trusted.code).toBe(0);
    expect(trusted.out).toMatch(new RegExp(`^Trusted:\\ntrusted   ${thumbprint}  O=CityPilot, CN=CityPilot OPC UA simulator`));
    expect(trusted.out).toContain(`The server must also trust our certificate, ${ours}`);
    const after = await gatewayCli('opcua-certificates', 'list', configFile);
    expect(after.out).toMatch(new RegExp(`Server certificates \\(1\\):\\ntrusted   ${thumbprint}`));
    expect(after.out).not.toContain('rejected');

    // We trust the server; it does not trust us yet.
    expect(await connectionError(simulator.endpointUrl, pkiDir)).toBeInstanceOf(OpcuaClientCertificateRejectedError);
    await simulator.trustClientCertificate(ours);
    const connection = await OpcuaConnection.connect(simulator.endpointUrl, { pkiDir, securityMode: 'SignAndEncrypt' });
    try {
      expect((await connection.read([buildingNodeId('AHU1.SupplyAirSetpoint')]))[0]).toMatchObject({ value: 19, quality: 'good' });
    } finally {
      await connection.close();
    }

    const again = await gatewayCli('opcua-certificates', 'trust', configFile, thumbprint);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/^Already trusted:/);
  });

  it('refuses an unknown or malformed thumbprint with exit code 2, listing the known ones, from the command line too', async () => {
    // Run after the first test: the store holds the simulator's certificate.
    const known = (await gatewayCli('opcua-certificates', 'list', configFile)).out.match(/^(?:trusted|rejected) +([0-9a-f]{40})/m)?.[1];
    expect(known).toMatch(/^[0-9a-f]{40}$/);

    const unknown = spawnSync(process.execPath, [cli, 'opcua-certificates', 'trust', '--data-dir', dataDir, '00000000deadbeef'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(unknown.status).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toMatch(
      new RegExp(
        `^no server certificate with thumbprint 00000000deadbeef; the certificates seen are:\\n  trusted   ${known}  O=CityPilot, CN=CityPilot OPC UA simulator`,
      ),
    );
    expect(unknown.stderr).not.toMatch(/\n\s+at /);

    const short = await gatewayCli('opcua-certificates', 'trust', configFile, known!.slice(0, 6));
    expect(short.code).toBe(2);
    expect(short.err).toMatch(/is not a thumbprint: expected its hexadecimal digits \(8 to 40/);

    // The same store through --data-dir as through the configuration file.
    const byDir = spawnSync(process.execPath, [cli, 'opcua-certificates', 'list', `--data-dir=${dataDir}`], { encoding: 'utf8', timeout: 60_000 });
    expect(byDir.status).toBe(0);
    expect(byDir.stdout).toBe((await gatewayCli('opcua-certificates', 'list', configFile)).out);
  });

  it('says what is wrong with the command line or the configuration file, with exit code 2', async () => {
    expect((await gatewayCli('opcua-certificates', 'trust', configFile)).err).toMatch(/^opcua-certificates trust takes a configuration file and a thumbprint/);
    expect((await gatewayCli('opcua-certificates', 'remove', configFile)).code).toBe(2);
    expect((await gatewayCli('opcua-certificates', 'list', configFile, '--all')).err).toMatch(/^unknown option --all/);
    const help = await gatewayCli('opcua-certificates', '--help');
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^Usage: citypilot gateway opcua-certificates list FILE/);
    expect((await gatewayCli('--help')).out).toMatch(/opcua-certificates trust FILE THUMBPRINT/);

    const missing = await gatewayCli('opcua-certificates', 'list', join(root, 'nowhere.yaml'));
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/nowhere\.yaml: cannot read the file \(ENOENT\)/);
    const bad = join(root, 'bad.yaml');
    writeFileSync(bad, 'gateway: { id: town-hall }\ndataDir: [1, 2]\n');
    const refused = await gatewayCli('opcua-certificates', 'list', bad);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/bad\.yaml:2:1 dataDir: expected the path of the gateway's data folder/);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
