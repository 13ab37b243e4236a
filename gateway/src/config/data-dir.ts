import { dirname, resolve } from 'node:path';
import { ConfigFileError, readYamlFile } from '@citypilot/sdk';
import { GatewayConfigSchema } from './config.js';

/**
 * The data folder of the gateway configured by `file`, absolute: its `dataDir` (default `data`)
 * from the config file's folder, as the gateway resolves it. Only `dataDir` is read, so that
 * commands working on the data folder run while the rest of the file is being fixed.
 * @throws ConfigFileError when the file cannot be read or parsed, or `dataDir` is not a path
 */
export function gatewayDataDir(file: string): string {
  const source = readYamlFile(file, 'nothing was changed');
  const data = source.data as { dataDir?: unknown } | null;
  const dataDir = data && typeof data === 'object' && 'dataDir' in data ? data.dataDir : GatewayConfigSchema.properties.dataDir.default;
  if (typeof dataDir !== 'string' || dataDir === '') {
    throw new ConfigFileError(file, source.describe([{ path: ['dataDir'], message: "expected the path of the gateway's data folder" }]), 'nothing was changed');
  }
  return resolve(dirname(resolve(file)), dataDir);
}
