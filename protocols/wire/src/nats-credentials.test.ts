import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createNatsUser, natsCredentialsOptions, NatsCredentialsError, natsPublicKey, readNatsSeed } from './nats-credentials.js';

describe('NATS credentials files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-wire-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the seed after comments and gives the public key the server is told', () => {
    const user = createNatsUser();
    const file = join(dir, 'gateway.nk');
    writeFileSync(file, `# gateway town-hall\n\n${user.seed}\n`);
    expect(readNatsSeed(file)).toBe(user.seed);
    expect(natsPublicKey(user.seed)).toBe(user.publicKey);
    expect(natsCredentialsOptions(file).authenticator).toBeTypeOf('function');
  });

  it('names the file when it is missing or holds no user seed', () => {
    const file = join(dir, 'wrong.nk');
    writeFileSync(file, '# nothing\nSAnotauser\n');
    expect(() => readNatsSeed(file)).toThrow(NatsCredentialsError);
    expect(() => readNatsSeed(file)).toThrow(`${file}: expected a NATS user nkey seed`);
    expect(() => readNatsSeed(join(dir, 'none.nk'))).toThrow(/cannot read the NATS credentials \(ENOENT\)/);
  });
});
