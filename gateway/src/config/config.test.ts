import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GatewayConfigError, loadGatewayConfig, parseGatewayConfig } from './config.js';
import { PluginRegistry } from './registry.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const casesDir = join(packageDir, 'testcases', 'config-errors');
const registry = new PluginRegistry();

describe('gateway configuration errors (testcases/config-errors)', () => {
  // Each case: gateway.yaml, and expected.txt with the exact message a technician sees.
  for (const name of readdirSync(casesDir).sort()) {
    it(name, () => {
      const text = readFileSync(join(casesDir, name, 'gateway.yaml'), 'utf8');
      const expected = readFileSync(join(casesDir, name, 'expected.txt'), 'utf8').trimEnd();
      let error: unknown;
      try {
        parseGatewayConfig(text, 'gateway.yaml', registry);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(GatewayConfigError);
      expect((error as Error).message).toBe(expected);
    });
  }
});

describe('gateway configuration', () => {
  it('accepts the commented sample and fills in the defaults', () => {
    const config = loadGatewayConfig(join(packageDir, 'sample.yaml'), registry);
    expect(config.gateway.id).toBe('town-hall');
    expect(config.hub.subjectPrefix).toBe('citypilot');
    expect(config.devices.length).toBeGreaterThan(0);
    const point = config.devices[0]!.config.points[0]!;
    expect(point).toMatchObject({ scale: expect.any(Number), offset: expect.any(Number), writable: false });
    expect(config.dataDir.startsWith(packageDir)).toBe(true);
  });

  it("reads hub.credentials relative to the file, and the sample's commented line is valid", () => {
    const sample = readFileSync(join(packageDir, 'sample.yaml'), 'utf8');
    const line = sample.split('\n').find((l) => l.trim().startsWith('# credentials:'))!;
    const text = sample.replace(line, line.replace('# ', ''));
    const config = parseGatewayConfig(text, join('/etc/citypilot', 'gateway.yaml'), registry);
    expect(config.hub.credentials).toBe('/etc/citypilot/credentials/town-hall.nk');
    expect(loadGatewayConfig(join(packageDir, 'sample.yaml'), registry).hub.credentials).toBeUndefined();
  });

  it("accepts each plugin's sample device block", () => {
    for (const id of registry.ids()) {
      const sample = join(packageDir, '..', 'plugins', id, 'sample.yaml');
      expect(existsSync(sample), `${sample} is missing`).toBe(true);
      const text = `gateway:\n  id: sample\n${readFileSync(sample, 'utf8')}`;
      expect(() => parseGatewayConfig(text, sample, registry)).not.toThrow();
    }
  });

  it("accepts the Node-RED plugin's sample section, its commented settings too, and reads flowsFile relative to the file", () => {
    const modbus = readFileSync(join(packageDir, '..', 'plugins', 'modbus', 'sample.yaml'), 'utf8');
    const nodeRed = readFileSync(join(packageDir, '..', 'plugins', 'node-red', 'sample.yaml'), 'utf8');
    const config = parseGatewayConfig(`gateway:\n  id: sample\n${modbus}${nodeRed}`, '/etc/citypilot/gateway.yaml', registry);
    expect(config.nodeRed).toMatchObject({ enabled: true, host: '127.0.0.1', flowsFile: '/etc/citypilot/flows.json' });
    expect(config.nodeRed.points.map((p) => p.id)).toEqual(['power-w', 'power-high']);
    expect(loadGatewayConfig(join(packageDir, 'sample.yaml'), registry).nodeRed).toMatchObject({ enabled: false, points: [] });

    // Uncommented, the settings block (a login) lets the editor listen beyond loopback.
    const uncommented = nodeRed.replace(/^ {2}# ( *)(settings:|credentialSecret:|adminAuth:|type:|users:|- username:|password:|permissions:)/gm, '  $1$2');
    const open = parseGatewayConfig(`gateway:\n  id: sample\n${modbus}${uncommented.replace('host: 127.0.0.1', 'host: 0.0.0.0')}`, 'gateway.yaml', registry);
    expect(open.nodeRed.settings).toMatchObject({ credentialSecret: expect.any(String), adminAuth: { type: 'credentials' } });
  });

  it('names a file it cannot read', () => {
    expect(() => loadGatewayConfig('/nonexistent/gateway.yaml', registry)).toThrow(/\/nonexistent\/gateway.yaml: cannot read the file \(ENOENT\)/);
  });
});
