/**
 * The OPC UA protocol package, loaded at the first connection (or discovery, or simulator)
 * rather than with the plugin: node-opcua takes seconds of CPU to load (it generates an RSA
 * key to probe the platform's crypto), which every `citypilot` command would otherwise pay,
 * OPC UA devices or not.
 */
export type OpcuaProtocol = typeof import('@citypilot/protocol-opcua');

export function loadOpcuaProtocol(): Promise<OpcuaProtocol> {
  return import('@citypilot/protocol-opcua');
}

/**
 * Why `nodeId` is not an OPC UA node id in its string form (`ns=2;s=AHU1.Temp`, `ns=3;i=1001`,
 * `nsu=urn:x;s=Y`, `i=2258`, `ns=1;g=<guid>`, `ns=1;b=<base64>`), or undefined. A check of the
 * syntax without node-opcua (see above); the server judges whether the node exists.
 */
export function nodeIdProblem(nodeId: string): string | undefined {
  const ok =
    /^(?:(?:ns=\d+|nsu=[^;]+);)?(?:i=\d+|s=.+|g=[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|b=[A-Za-z0-9+/]*={0,2})$/s.test(
      nodeId,
    );
  return ok ? undefined : 'expected [ns=<index>;]i=<number>, s=<string>, g=<guid> or b=<base64>';
}
