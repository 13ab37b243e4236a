import { describe, expect, it } from 'vitest';
import { make_warningLog } from 'node-opcua-client';
import { routeOpcuaLibraryLogs } from './logging.js';

describe("node-opcua's own messages", () => {
  it('go to the logger given at debug level, as one line without colour codes, with their source and level (multi-line dumps as one line)', () => {
    const lines: { obj: object; msg?: string }[] = [];
    routeOpcuaLibraryLogs({ debug: (obj, msg) => void lines.push({ obj, msg }) });
    // How node-opcua's modules warn.
    make_warningLog('test')('\u001b[36mthe certificate expires\u001b[39m in %d days', 3);
    make_warningLog('test')('dataValue = {\n  statusCode: BadNodeIdUnknown\n} for ns=0;i=12165');
    expect(lines).toEqual([
      { obj: { source: 'node-opcua', level: 'warning', file: expect.stringMatching(/:\d+$/) }, msg: 'the certificate expires in 3 days' },
      {
        obj: { source: 'node-opcua', level: 'warning', file: expect.stringMatching(/:\d+$/) },
        msg: 'dataValue = { statusCode: BadNodeIdUnknown } for ns=0;i=12165',
      },
    ]);
  });
});
