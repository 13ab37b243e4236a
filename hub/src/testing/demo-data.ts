import { PluginRegistry, ProfileLibrary } from '@citypilot/gateway';
import { demoBuildings } from '@citypilot/protocol-modbus';
import type { DemoCity } from '../demo-history.js';
import { demoPlant } from '../demo-seed.js';

/**
 * The demo city as `citypilot demo` seeds it: protocol-modbus's demo buildings, and their plant
 * with the points of the plugins' own profiles. For tests only: the hub's product code imports
 * neither the gateway (its plugins and drivers) nor a field protocol; the composed demo passes it.
 */
export function testDemoCity(): DemoCity {
  const registry = new PluginRegistry();
  const profiles = new ProfileLibrary([]);
  return { buildings: demoBuildings, plant: demoPlant(demoBuildings, (plugin, profile) => profiles.get(registry.get(plugin)!, profile)!.profile.points) };
}
