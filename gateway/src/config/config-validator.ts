import type { GatewayConfigValidator, PluginPackageDescription } from '@citypilot/wire';
import { GatewayConfigError, parseGatewayConfig } from './config.js';
import { PluginRegistrationError, PluginRegistry } from './registry.js';
import { describedPlugin } from '../fleet/described-plugin.js';

/**
 * The gateway's own check of a configuration (schemas and each plugin's rules), as the hub needs
 * it before pushing one (`citypilot hub push-config`): the hub receives this function from the
 * `citypilot` command, so that it checks what a gateway would without importing any driver.
 * `packages` (the installed plugins the hub assigns the gateway) are checked by their schemas
 * only, their code never run; one whose id the registry has already is ignored. Trusted key files
 * are not read: they are the gateway's, not the hub's.
 */
export function gatewayConfigValidator(registry = new PluginRegistry()): GatewayConfigValidator {
  return (yamlText, file, packages?: readonly PluginPackageDescription[]) => {
    let plugins = registry;
    if (packages?.length) {
      plugins = new PluginRegistry(registry.ids().map((id) => registry.get(id)!));
      for (const p of packages) {
        if (plugins.get(p.id)) continue;
        try {
          plugins.register(describedPlugin(p));
        } catch (error) {
          if (!(error instanceof PluginRegistrationError)) throw error;
          return { ok: false, problems: [`${file}: plugin package ${p.id} ${p.version}: ${error.message}`] };
        }
      }
    }
    try {
      return { ok: true, gateway: parseGatewayConfig(yamlText, file, plugins, undefined, { readKeyFiles: false }).gateway.id };
    } catch (error) {
      if (!(error instanceof GatewayConfigError)) throw error;
      return { ok: false, problems: [...error.problems] };
    }
  };
}
