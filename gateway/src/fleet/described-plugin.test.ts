import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PluginPackageDescription } from '@citypilot/wire';
import { gatewayConfigValidator } from '../config/config-validator.js';
import { HTTP_JSON_PLUGIN_DIR } from '../testing/index.js';

const description: PluginPackageDescription = {
  id: 'http-json',
  version: '1.0.0',
  sdk: '^0.1.0',
  protocol: 'http',
  description: 'Meters that answer JSON.',
  schema: JSON.parse(readFileSync(join(HTTP_JSON_PLUGIN_DIR, 'schema.json'), 'utf8')) as PluginPackageDescription['schema'],
};

const yaml = (address: string) =>
  `gateway: { id: school }\nplugins: { trustedKeys: [keys/not-on-the-hub.pub] }\ndevices:\n` +
  `  - { id: meter, plugin: http-json, connection: { url: "http://192.0.2.10/m.json" }, points: [{ id: energy, address: ${address} }] }\n`;

describe("the hub's check of a configuration using an installed plugin", () => {
  const validate = gatewayConfigValidator();

  it("accepts its devices by the package's schemas, without the gateway's key files", () => {
    expect(validate(yaml('{ field: energy }'), '/hub/school.yaml', [description])).toEqual({ ok: true, gateway: 'school' });
  });

  it('points at a device block that does not match them', () => {
    const check = validate(yaml('{ register: 3 }'), '/hub/school.yaml', [description]);
    expect(check.ok).toBe(false);
    expect(!check.ok && check.problems.join('\n')).toMatch(/school\.yaml:\d+:\d+ devices\[0\]\.points\[0\]\.address/);
  });

  it('knows no such plugin without the package', () => {
    const check = validate(yaml('{ field: energy }'), '/hub/school.yaml');
    expect(!check.ok && check.problems.join('\n')).toMatch(/unknown plugin "http-json"/);
  });

  it('refuses a package whose SDK range this gateway does not have', () => {
    const check = validate(yaml('{ field: energy }'), '/hub/school.yaml', [{ ...description, sdk: '^9.0.0' }]);
    expect(!check.ok && check.problems.join('\n')).toMatch(/needs SDK \^9\.0\.0/);
  });
});
