/**
 * Writes to an OPC UA server we did not write, through the plugin as the gateway's write API uses
 * it: a value the variable's data type cannot hold is refused before anything is sent, with a
 * reason of ours (never the OPC UA library's text); a Float reads back with the digits written.
 * It writes only the variables named below, and puts back the value each held: name variables a
 * test may write, never a plant's live setpoints.
 *   CITYPILOT_HW_OPCUA=opc.tcp://host:port            the server (and _SECURITY_MODE, _DATA_DIR as for read.test.ts)
 *   CITYPILOT_HW_OPCUA_WRITE_INT32=ns=1;i=51016       an Int32 variable the suite may write
 *   CITYPILOT_HW_OPCUA_WRITE_INT16=ns=1;i=51010       an Int16 variable the suite may write
 *   CITYPILOT_HW_OPCUA_WRITE_FLOAT=ns=1;i=51028       a Float variable the suite may write
 * Each test is skipped, saying so, without its variable.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PluginRegistry, parseGatewayConfig } from '@citypilot/gateway';
import type { Driver } from '@citypilot/sdk';

const env = process.env;
const endpoint = env.CITYPILOT_HW_OPCUA;
const securityMode = env.CITYPILOT_HW_OPCUA_SECURITY_MODE ?? 'None';
const nodes = { int32: env.CITYPILOT_HW_OPCUA_WRITE_INT32, int16: env.CITYPILOT_HW_OPCUA_WRITE_INT16, float: env.CITYPILOT_HW_OPCUA_WRITE_FLOAT };
const reason = 'skipped: set CITYPILOT_HW_OPCUA and CITYPILOT_HW_OPCUA_WRITE_INT32, _INT16 or _FLOAT (variables a test may write) to write to a server';
const enabled = Boolean(endpoint && (nodes.int32 || nodes.int16 || nodes.float));
if (!enabled) console.log(`hardware-tests/opcua: ${reason}`);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const own = env.CITYPILOT_HW_OPCUA_DATA_DIR ? undefined : mkdtempSync(join(tmpdir(), 'citypilot-hw-opcua-'));
const dataDir = env.CITYPILOT_HW_OPCUA_DATA_DIR ?? own!;
afterAll(() => {
  if (own) rmSync(own, { recursive: true, force: true });
});

function driverFor(nodeId: string): Driver {
  const block = {
    id: 'dut',
    plugin: 'opcua',
    timeout: '5s',
    connection: { endpointUrl: endpoint, securityMode, mode: 'poll' },
    points: [{ id: 'v', kind: 'number', writable: true, min: -1e6, max: 1e6, address: { nodeId } }],
  };
  const config = parseGatewayConfig(
    `gateway: { id: hardware-test }\ndataDir: ${JSON.stringify(dataDir)}\ndevices:\n  - ${JSON.stringify(block)}\n`,
    join(dataDir, 'hardware-test.yaml'),
    new PluginRegistry(),
  );
  const { config: dut, plugin } = config.devices[0]!;
  return plugin.create(dut, { timeoutMs: 5000, logger: quiet, stateDir: join(dataDir, 'plugins', 'opcua') });
}

async function valueOf(driver: Driver): Promise<unknown> {
  const [reading] = await driver.read();
  expect(reading!.quality, reading!.reason).toBe('good');
  return reading!.value;
}

/** Writes `value`, expects a refusal of ours, and checks the variable kept its value. */
async function expectRefused(nodeId: string, value: number): Promise<string> {
  const driver = driverFor(nodeId);
  try {
    const before = await valueOf(driver);
    const refusal = await driver.write!('v', value).then(
      () => undefined,
      (error: unknown) => error as { code?: string; message: string },
    );
    expect(refusal, `${value} was written to ${nodeId}`).toBeDefined();
    expect(refusal!.code, refusal!.message).toBe('CONFIG_INVALID');
    expect(refusal!.message).not.toMatch(/variant|arrayType|node-opcua/i);
    expect(await valueOf(driver)).toBe(before);
    return refusal!.message;
  } finally {
    await driver.close();
  }
}

describe(`OPC UA hardware, writes${enabled ? `: ${endpoint}` : ` (${reason})`}`, () => {
  it.skipIf(!endpoint || !nodes.int32)(`refuses a fraction for an Int32 variable (${nodes.int32 ?? 'unset'}) before sending it`, async () => {
    console.log(`  2.5 to ${nodes.int32}: ${await expectRefused(nodes.int32!, 2.5)}`);
  });

  it.skipIf(!endpoint || !nodes.int16)(`refuses 40000 for an Int16 variable (${nodes.int16 ?? 'unset'}) with its range, not the library's text`, async () => {
    console.log(`  40000 to ${nodes.int16}: ${await expectRefused(nodes.int16!, 40000)}`);
  });

  it.skipIf(!endpoint || !nodes.float)(
    `writes 21.3 to a Float variable (${nodes.float ?? 'unset'}) and reads back 21.3, then puts its value back`,
    async () => {
      const driver = driverFor(nodes.float!);
      try {
        const before = (await valueOf(driver)) as number;
        await driver.write!('v', 21.3);
        expect(await valueOf(driver)).toBe(21.3);
        await driver.write!('v', before);
      } finally {
        await driver.close();
      }
    },
  );
});
