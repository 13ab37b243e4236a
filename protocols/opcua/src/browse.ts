// Browsing a server's address space for its variables: depth first under a start node, with
// each variable's data type, access, array dimensions, engineering units and range.
import { AttributeIds, BrowseDirection, NodeClass, type DataValue, type NodeId, type ReferenceDescription } from 'node-opcua-client';
import { dataTypeName, type OpcuaVariable } from './client-types.js';
import type { ServerOperations } from './server-operations.js';

/**
 * The variables under `from` (default the Objects folder), depth first, with their data types,
 * access, array dimensions and engineering units. The server's own nodes (namespace 0) below
 * the start are skipped.
 */
export async function browseVariables(ops: ServerOperations, from = 'ns=0;i=85', options: { maxDepth?: number } = {}): Promise<OpcuaVariable[]> {
  const maxDepth = options.maxDepth ?? 10;
  const variables: OpcuaVariable[] = [];
  let level: { nodeId: string; path: string }[] = [{ nodeId: from, path: '' }];
  for (let depth = 0; depth < maxDepth && level.length > 0; depth++) {
    const results = await ops.browseAll(
      level.map((n) => ({
        nodeId: n.nodeId,
        browseDirection: BrowseDirection.Forward,
        referenceTypeId: 'HierarchicalReferences',
        includeSubtypes: true,
        nodeClassMask: NodeClass.Object | NodeClass.Variable,
        resultMask: 63,
      })),
    );
    const next: typeof level = [];
    const found: { ref: ReferenceDescription; path: string }[] = [];
    results.forEach((result, i) => {
      for (const ref of result.references ?? []) {
        if (ref.nodeId.namespace === 0) continue;
        // Properties (EngineeringUnits, EURange) describe their parent, they are not points.
        if (ref.referenceTypeId.namespace === 0 && ref.referenceTypeId.value === 46) continue;
        const path = level[i]!.path ? `${level[i]!.path}/${ref.browseName.name}` : `${ref.browseName.name}`;
        if (ref.nodeClass === NodeClass.Variable) found.push({ ref, path });
        else next.push({ nodeId: ref.nodeId.toString(), path });
      }
    });
    variables.push(...(await describeVariables(ops, found)));
    level = next;
  }
  return variables;
}

async function describeVariables(ops: ServerOperations, found: { ref: ReferenceDescription; path: string }[]): Promise<OpcuaVariable[]> {
  if (found.length === 0) return [];
  const attributes = [AttributeIds.DataType, AttributeIds.ValueRank, AttributeIds.ArrayDimensions, AttributeIds.UserAccessLevel];
  const values = await ops.readAttributes(found.flatMap((f) => attributes.map((attributeId) => ({ nodeId: f.ref.nodeId, attributeId }))));
  const properties = await ops.browseAll(
    found.map((f) => ({
      nodeId: f.ref.nodeId,
      browseDirection: BrowseDirection.Forward,
      referenceTypeId: 'HasProperty',
      includeSubtypes: true,
      resultMask: 63,
    })),
  );
  const wanted: { index: number; name: 'EngineeringUnits' | 'EURange'; nodeId: NodeId }[] = [];
  properties.forEach((result, index) => {
    for (const ref of result.references ?? []) {
      if (ref.browseName.name === 'EngineeringUnits' || ref.browseName.name === 'EURange')
        wanted.push({ index, name: ref.browseName.name, nodeId: ref.nodeId });
    }
  });
  const propertyValues = wanted.length ? await ops.readAttributes(wanted.map((w) => ({ nodeId: w.nodeId, attributeId: AttributeIds.Value }))) : [];
  return found.map((f, i) => {
    const [dataType, valueRank, arrayDimensions, userAccessLevel] = values.slice(i * 4, i * 4 + 4) as [DataValue, DataValue, DataValue, DataValue];
    const variable: OpcuaVariable = {
      nodeId: f.ref.nodeId.toString(),
      browsePath: f.path,
      displayName: f.ref.displayName.text ?? f.ref.browseName.name ?? '',
      dataType: dataType.statusCode.isGood() ? dataTypeName(dataType.value.value as NodeId) : 'unknown',
      valueRank: valueRank.statusCode.isGood() ? (valueRank.value.value as number) : -1,
      writable: userAccessLevel.statusCode.isGood() && ((userAccessLevel.value.value as number) & 2) !== 0,
    };
    const dims = arrayDimensions.statusCode.isGood() ? (arrayDimensions.value.value as ArrayLike<number> | null) : null;
    if (dims && dims.length > 0) variable.arrayDimensions = Array.from(dims);
    wanted.forEach((w, j) => {
      if (w.index !== i || !propertyValues[j]?.statusCode.isGood()) return;
      const v = propertyValues[j]!.value.value as Record<string, unknown> | null;
      if (!v) return;
      if (w.name === 'EURange') variable.euRange = { low: v.low as number, high: v.high as number };
      else {
        variable.engineeringUnits = {
          namespaceUri: (v.namespaceUri as string) ?? '',
          unitId: v.unitId as number,
          displayName: (v.displayName as { text?: string } | null)?.text ?? '',
          description: (v.description as { text?: string } | null)?.text ?? '',
        };
      }
    });
    return variable;
  });
}
