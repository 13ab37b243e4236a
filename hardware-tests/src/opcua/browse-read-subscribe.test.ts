/**
 * The OPC UA suite against a real server (a building management system, a PLC) or another
 * OPC UA stack, named in the environment; skipped, saying so, without CITYPILOT_HW_OPCUA.
 *   CITYPILOT_HW_OPCUA=opc.tcp://host:4840           the server's endpoint URL
 *   CITYPILOT_HW_OPCUA_NODE=ns=2;s=AHU1.SupplyTemp   the variable to read and monitor (default: the
 *                                                    first numeric variable the browse finds)
 *   CITYPILOT_HW_OPCUA_FROM=ns=2;s=Plant             where to browse from (default the Objects folder)
 *   CITYPILOT_HW_OPCUA_BROWSE_DEPTH=4                how many levels to browse (default 4)
 *   CITYPILOT_HW_OPCUA_SECURITY_MODE=SignAndEncrypt  None (default), Sign or SignAndEncrypt
 *   CITYPILOT_HW_OPCUA_SECURITY_POLICY=Basic256Sha256  default Basic256Sha256 with security
 *   CITYPILOT_HW_OPCUA_USER, CITYPILOT_HW_OPCUA_PASSWORD  a user name identity (default anonymous)
 *   CITYPILOT_HW_OPCUA_USER_CERT, CITYPILOT_HW_OPCUA_USER_KEY  or an X.509 user identity (PEM files)
 *   CITYPILOT_HW_OPCUA_DATA_DIR=DIR                  a gateway data folder whose plugins/opcua/pki is
 *                                                    our certificate store (default .citypilot/hardware-tests)
 * With security, trust the server once: the first run fails with its thumbprint, then
 *   citypilot gateway opcua-certificates trust --data-dir DIR THUMBPRINT
 * and have the server trust our certificate (`opcua-certificates list --data-dir DIR` shows it).
 * Example: CITYPILOT_HW_OPCUA=opc.tcp://192.0.2.20:4840 CITYPILOT_HW_OPCUA_NODE='ns=2;s=T1' npm test
 * The names are those of the plugin's own hardware suite (CITYPILOT_HW_OPCUA, _SECURITY_MODE,
 * _DATA_DIR, _FROM), so that one environment runs both.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  discoverEndpoints,
  OPCUA_SECURITY_MODES,
  OpcuaConnection,
  type OpcuaIdentity,
  type OpcuaSecurityMode,
  type OpcuaSecurityPolicy,
  type OpcuaValue,
  type OpcuaVariable,
} from '@citypilot/protocol-opcua';
import { pluginStateDir } from '@citypilot/gateway';

const env = process.env;
const endpoint = env.CITYPILOT_HW_OPCUA;
const reason = 'skipped: set CITYPILOT_HW_OPCUA=opc.tcp://host:port (and CITYPILOT_HW_OPCUA_NODE=<node id>) to run against a real OPC UA server';
if (!endpoint) console.log(`hardware-tests/opcua: ${reason}`);

const securityMode = (env.CITYPILOT_HW_OPCUA_SECURITY_MODE ?? 'None') as OpcuaSecurityMode;
if (!OPCUA_SECURITY_MODES.includes(securityMode))
  throw new Error(`CITYPILOT_HW_OPCUA_SECURITY_MODE=${securityMode}: expected one of ${OPCUA_SECURITY_MODES.join(', ')}`);
const securityPolicy = (env.CITYPILOT_HW_OPCUA_SECURITY_POLICY ?? (securityMode === 'None' ? 'None' : 'Basic256Sha256')) as OpcuaSecurityPolicy;
if (env.CITYPILOT_HW_OPCUA_USER_CERT && !env.CITYPILOT_HW_OPCUA_USER_KEY)
  throw new Error('CITYPILOT_HW_OPCUA_USER_CERT needs CITYPILOT_HW_OPCUA_USER_KEY, its private key (PEM)');
const identity: OpcuaIdentity = env.CITYPILOT_HW_OPCUA_USER
  ? { userName: env.CITYPILOT_HW_OPCUA_USER, password: env.CITYPILOT_HW_OPCUA_PASSWORD ?? '' }
  : env.CITYPILOT_HW_OPCUA_USER_CERT
    ? { certificateFile: env.CITYPILOT_HW_OPCUA_USER_CERT, privateKeyFile: env.CITYPILOT_HW_OPCUA_USER_KEY! }
    : 'anonymous';
const repository = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const dataDir = resolve(env.CITYPILOT_HW_OPCUA_DATA_DIR ?? join(repository, '.citypilot', 'hardware-tests'));
// The gateway's own store layout, so that `citypilot gateway opcua-certificates --data-dir` serves it.
const pkiDir = join(pluginStateDir(dataDir, 'opcua'), 'pki');
const browseFrom = env.CITYPILOT_HW_OPCUA_FROM ?? 'ns=0;i=85';
const browseDepth = Number(env.CITYPILOT_HW_OPCUA_BROWSE_DEPTH ?? 4);
/** Server_ServerStatus_CurrentTime: every server has it and its value changes all the time. */
const SERVER_CURRENT_TIME = 'ns=0;i=2258';
const NUMERIC = ['Double', 'Float', 'SByte', 'Byte', 'Int16', 'UInt16', 'Int32', 'UInt32', 'Int64', 'UInt64'];

async function waitUntil(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe(`OPC UA hardware${endpoint ? `: ${endpoint} (${securityMode}/${securityPolicy}, ${typeof identity === 'string' ? identity : 'userName' in identity ? `user ${identity.userName}` : 'X.509 user'})` : ` (${reason})`}`, () => {
  let connection: OpcuaConnection | undefined;
  let browsed: OpcuaVariable[] | undefined;
  const browse = async () => (browsed ??= await connection!.browse(browseFrom, { maxDepth: browseDepth }));
  /** The variable read and monitored: the one named, or the first numeric scalar browsed. */
  const target = async () => {
    const nodeId = env.CITYPILOT_HW_OPCUA_NODE ?? (await browse()).find((v) => v.valueRank === -1 && NUMERIC.includes(v.dataType))?.nodeId;
    if (!nodeId) throw new Error(`no numeric variable found from ${browseFrom} in ${browseDepth} levels: set CITYPILOT_HW_OPCUA_NODE`);
    return nodeId;
  };

  beforeAll(async () => {
    if (!endpoint) return;
    connection = await OpcuaConnection.connect(endpoint, { pkiDir, securityMode, securityPolicy, identity });
  });
  afterAll(async () => {
    await connection?.close();
  });

  it.skipIf(!endpoint)(`offers the security asked (${securityMode}/${securityPolicy}) and an identity we can use`, async () => {
    const endpoints = await discoverEndpoints(endpoint!, { pkiDir });
    const offered = endpoints.filter((e) => e.securityMode === securityMode && e.securityPolicy === securityPolicy);
    expect(offered.length, `offered: ${endpoints.map((e) => `${e.securityMode}/${e.securityPolicy}`).join(', ')}`).toBeGreaterThan(0);
    const token = typeof identity === 'string' ? 'anonymous' : 'userName' in identity ? 'userName' : 'certificate';
    expect(offered.flatMap((e) => e.userTokenTypes)).toContain(token);
    if (securityMode !== 'None') expect(offered[0]!.serverCertificateThumbprint).toMatch(/^[0-9a-f]{40}$/);
  });

  it.skipIf(!endpoint)(`browses variables from ${browseFrom}, ${browseDepth} levels deep, with their data types`, async () => {
    const variables = await browse();
    expect(variables.length, 'no variable found: set CITYPILOT_HW_OPCUA_FROM to a folder that holds some').toBeGreaterThan(0);
    for (const v of variables) {
      expect(v.nodeId, v.browsePath).toMatch(/^(ns=\d+;)?[isgb]=/);
      expect(v.dataType, v.browsePath).not.toBe('unknown');
      expect(Number.isInteger(v.valueRank), v.browsePath).toBe(true);
    }
    console.log(
      `hardware-tests/opcua: ${variables.length} variable(s) browsed, e.g. ${variables
        .slice(0, 3)
        .map((v) => `${v.browsePath} (${v.nodeId}, ${v.dataType})`)
        .join('; ')}`,
    );
  });

  it.skipIf(!endpoint)('reads the variable with good quality and a timestamp, and an unknown node as bad, without failing the read', async () => {
    const nodeId = await target();
    const [value, unknown] = await connection!.read([nodeId, 'ns=1;s=CityPilot.NoSuchNode.4f1c']);
    expect(value, `${nodeId} read as ${JSON.stringify(value)}`).toMatchObject({ nodeId, quality: 'good' });
    expect(value!.value).not.toBeNull();
    expect(value!.sourceTimestamp ?? value!.serverTimestamp).toBeInstanceOf(Date);
    expect(unknown).toMatchObject({ quality: 'bad', statusCode: expect.stringMatching(/^Bad/) });
    console.log(`hardware-tests/opcua: ${nodeId} = ${String(value!.value)} (${value!.statusCode})`);
  });

  it.skipIf(!endpoint)("monitors the variable and the server's clock: first values at once, then the clock's changes", async () => {
    const nodeId = await target();
    const notified: OpcuaValue[] = [];
    const subscription = await connection!.subscribe(
      [
        { nodeId, samplingIntervalMs: 1000 },
        { nodeId: SERVER_CURRENT_TIME, samplingIntervalMs: 1000 },
      ],
      (v) => notified.push(v),
      { publishingIntervalMs: 1000 },
    );
    try {
      expect(subscription.refused).toEqual([]);
      // A server sends each item's current value first, whether it changes or not.
      await waitUntil(`the first value of ${nodeId}`, () => notified.some((v) => v.nodeId === nodeId));
      expect(notified.find((v) => v.nodeId === nodeId)).toMatchObject({ quality: 'good' });
      // The clock moves: notifications keep coming, the subscription is alive.
      await waitUntil('three values of the server clock', () => notified.filter((v) => v.nodeId === SERVER_CURRENT_TIME).length >= 3);
      const times = notified.filter((v) => v.nodeId === SERVER_CURRENT_TIME).map((v) => (v.value as Date).getTime());
      expect(times.every((t, i) => i === 0 || t > times[i - 1]!)).toBe(true);
    } finally {
      await subscription.close();
    }
  });
});
