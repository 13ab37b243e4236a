/* global fetch, AbortSignal */
// An HTTP-JSON meter reader, installed as a plugin package (no build step): a GET on the
// device's `url` answers a JSON object, and each point's address names one of its keys.
import { readFileSync } from 'node:fs';
import { DeviceProtocolError, DeviceTimeoutError, DeviceUnreachableError, definePlugin } from '@citypilot/sdk';
import { Type } from '@sinclair/typebox';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));

const connection = Type.Object(
  { url: Type.String({ pattern: '^https?://', expected: 'an http:// or https:// URL such as http://192.0.2.10/meter.json' }) },
  { additionalProperties: false },
);
const address = Type.Object(
  { field: Type.String({ minLength: 1, expected: 'a key of the JSON object the device answers (such as energy)' }) },
  { additionalProperties: false },
);

export default definePlugin({
  manifest: {
    id: pkg.citypilot.id,
    version: pkg.version,
    sdk: pkg.citypilot.sdk,
    protocol: pkg.citypilot.protocol,
    description: pkg.citypilot.description,
  },
  schema: { connection, address },
  create(device, context) {
    const { url } = device.connection;
    const points = device.points.map((p) => ({ id: p.id, field: p.address.field }));
    return {
      async read(ids) {
        const wanted = ids ? points.filter((p) => ids.includes(p.id)) : points;
        let body;
        try {
          const response = await fetch(url, { signal: AbortSignal.timeout(context.timeoutMs) });
          if (!response.ok) throw new DeviceProtocolError(`${url} answered HTTP ${response.status}`);
          body = await response.json();
        } catch (error) {
          if (error instanceof DeviceProtocolError) throw error;
          if (error && error.name === 'TimeoutError') throw new DeviceTimeoutError(`${url} did not answer within ${context.timeoutMs} ms`, { cause: error });
          if (error instanceof SyntaxError) throw new DeviceProtocolError(`${url} did not answer JSON`, { cause: error });
          throw new DeviceUnreachableError(`cannot reach ${url} (${error.message})`, { cause: error });
        }
        if (!body || typeof body !== 'object' || Array.isArray(body)) throw new DeviceProtocolError(`${url} did not answer a JSON object`);
        return wanted.map((p) => {
          const value = Object.hasOwn(body, p.field) ? body[p.field] : undefined;
          return typeof value === 'number' && Number.isFinite(value)
            ? { point: p.id, value, quality: 'good' }
            : { point: p.id, value: null, quality: 'bad', reason: `no number under ${JSON.stringify(p.field)} in the answer of ${url}` };
        });
      },
      async close() {},
    };
  },
});
