import { createSocket } from 'node:dgram';
import { EngineeringUnits, ObjectType } from '@bacnet-js/client';
import { BacnetSimulator, buildingObjects, type SimulatedObjectSpec } from '@citypilot/protocol-bacnet';
import { buildingLoad, simulationNoise, type PointConfig, type RunningSimulator, type SimulateOptions } from '@citypilot/sdk';
import { objectTypeNumber } from './object-types.js';
import type { BacnetAddressConfig } from './schema.js';

const ANALOG = new Set<number>([ObjectType.ANALOG_INPUT, ObjectType.ANALOG_OUTPUT, ObjectType.ANALOG_VALUE]);
const BINARY = new Set<number>([ObjectType.BINARY_INPUT, ObjectType.BINARY_OUTPUT, ObjectType.BINARY_VALUE]);
const MULTI_STATE = new Set<number>([ObjectType.MULTI_STATE_INPUT, ObjectType.MULTI_STATE_OUTPUT, ObjectType.MULTI_STATE_VALUE]);

/**
 * The simulated device's objects for `points`: the building controller's (buildingObjects), whose
 * values move along the building's day, plus a still object for each point of another profile
 * that names an analog, binary or multi-state object the controller does not have. Points of
 * other object types (the simulator has no accumulator or character string) are not served: the
 * driver reads them as bad with the device's unknown-object error, as a real device would answer.
 */
export function simulatedObjects(points: readonly PointConfig[]): SimulatedObjectSpec[] {
  const objects = buildingObjects(0, { load: buildingLoad, noise: simulationNoise });
  const have = new Set(objects.map((o) => `${o.type}:${o.instance}`));
  for (const point of points) {
    const a = point.address as BacnetAddressConfig;
    const type = typeof a.objectType === 'number' ? a.objectType : objectTypeNumber(a.objectType);
    if (type === undefined || have.has(`${type}:${a.instance}`)) continue;
    const base = { type: type as ObjectType, instance: a.instance, name: point.name ?? point.id, description: point.name ?? point.id };
    if (ANALOG.has(type)) objects.push({ ...base, units: EngineeringUnits.NO_UNITS, initial: 0 });
    else if (BINARY.has(type)) objects.push({ ...base, initial: 0 });
    else if (MULTI_STATE.has(type)) objects.push({ ...base, initial: 1, stateText: ['State 1', 'State 2', 'State 3', 'State 4'] });
    else continue;
    have.add(`${type}:${a.instance}`);
  }
  return objects;
}

/**
 * Starts a simulated BACnet/IP device serving `points` (a profile's) on `host:port` (default
 * 127.0.0.1 and a free port), as device `connection.deviceInstance` (default 1234). The
 * connection it returns reaches it from a gateway on the same machine: the device's address, and
 * a gateway socket on the same host on another free port (one UDP port cannot be bound twice).
 */
export async function simulate(points: PointConfig[], options: SimulateOptions): Promise<RunningSimulator> {
  const host = options.host ?? '127.0.0.1';
  const deviceInstance = Number(options.connection?.deviceInstance ?? 1234);
  const simulator = new BacnetSimulator({ interface: host, port: options.port ?? 0, deviceInstance, objects: simulatedObjects(points) });
  const { port } = await simulator.start();
  const device = host === '0.0.0.0' ? '127.0.0.1' : host;
  try {
    const gatewayPort = await freeUdpPort(device, port);
    return {
      connection: { deviceInstance, address: `${device}:${port}`, network: { interface: device, port: gatewayPort } },
      stop: () => simulator.stop(),
    };
  } catch (error) {
    await simulator.stop();
    throw error;
  }
}

/** A UDP port free on `host` now (the system's choice), other than `not`. */
export async function freeUdpPort(host = '127.0.0.1', not?: number): Promise<number> {
  for (;;) {
    const socket = createSocket('udp4');
    const port = await new Promise<number>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => resolve(socket.address().port));
    });
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    if (port !== not) return port;
  }
}
