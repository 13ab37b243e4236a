import type { GatewayConfigValidator } from '@citypilot/wire';
import { GatewayConfigError, parseGatewayConfig } from './config.js';
import { PluginRegistry } from './registry.js';

/**
 * The gateway's own check of a configuration (schemas and each plugin's rules), as the hub needs
 * it before pushing one (`citypilot hub push-config`): the hub receives this function from the
 * `citypilot` command, so that it checks what a gateway would without importing any driver.
 */
export function gatewayConfigValidator(registry = new PluginRegistry()): GatewayConfigValidator {
  return (yamlText, file) => {
    try {
      return { ok: true, gateway: parseGatewayConfig(yamlText, file, registry).gateway.id };
    } catch (error) {
      if (!(error instanceof GatewayConfigError)) throw error;
      return { ok: false, problems: [...error.problems] };
    }
  };
}
