import { describe, expect, it } from 'vitest';
import { make_warningLog } from 'node-opcua-client';
import { routeOpcuaLibraryLogs } from './logging.js';

describe("node-opcua's own messages", () => {
  it('go to the logger given, as one line without colour codes, with their source', () => {
    const warnings: { obj: object; msg?: string }[] = [];
    routeOpcuaLibraryLogs({ warn: (obj, msg) => void warnings.push({ obj, msg }), error() {} });
    // How node-opcua's modules warn.
    make_warningLog('test')('\u001b[36mthe certificate expires\u001b[39m in %d days', 3);
    expect(warnings).toEqual([{ obj: { source: 'node-opcua', file: expect.stringMatching(/:\d+$/) }, msg: 'the certificate expires in 3 days' }]);
  });
});
