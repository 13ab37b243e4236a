import { CityPilotError, manifestProblem, type DriverPlugin } from '@citypilot/sdk';
import { createModbusPlugin, modbusPlugin } from '@citypilot/plugin-modbus';
import { bacnetPlugin, createBacnetPlugin } from '@citypilot/plugin-bacnet';
import { createOpcuaPlugin, opcuaPlugin } from '@citypilot/plugin-opcua';

/** The plugins built into the gateway, one line each. */
export const builtinPlugins: readonly DriverPlugin[] = [modbusPlugin, bacnetPlugin, opcuaPlugin];

/**
 * New instances of the built-in plugins (the same list as {@link builtinPlugins}), with links of
 * their own: a configuration validated and started while another one runs must neither share
 * nor conflict with the serial lines (Modbus) or sockets (BACnet) the running one holds.
 */
export function createBuiltinPlugins(): DriverPlugin[] {
  return [createModbusPlugin(), createBacnetPlugin(), createOpcuaPlugin()];
}

/** A plugin that cannot be registered: incompatible SDK range, duplicate id, bad manifest. */
export class PluginRegistrationError extends CityPilotError {
  constructor(message: string) {
    super('PLUGIN_INVALID', message);
  }
}

/**
 * The plugins a gateway may use, by id. Built-in plugins and those installed by the hub operator
 * go through the same checks before anything starts.
 */
export class PluginRegistry {
  private readonly plugins = new Map<string, DriverPlugin>();

  constructor(plugins: readonly DriverPlugin[] = builtinPlugins) {
    for (const p of plugins) this.register(p);
  }

  register(plugin: DriverPlugin): void {
    const problem = manifestProblem(plugin.manifest);
    if (problem) throw new PluginRegistrationError(problem);
    if (this.plugins.has(plugin.manifest.id)) throw new PluginRegistrationError(`two plugins have the id ${JSON.stringify(plugin.manifest.id)}`);
    this.plugins.set(plugin.manifest.id, plugin);
  }

  get(id: string): DriverPlugin | undefined {
    return this.plugins.get(id);
  }

  ids(): string[] {
    return [...this.plugins.keys()].sort();
  }
}
