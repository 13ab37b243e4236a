import type { Sample } from '@citypilot/sdk';
import type { PluginInstall } from '@citypilot/wire';
import type { ConfigStatus } from '../config/live-config.js';
import type { OutboxStatus } from '../pipeline/outbox.js';
import type { DeviceStatus } from '../pipeline/poller.js';

/** What `/api/status` returns. */
export interface GatewayStatus {
  gateway: string;
  nats: 'connecting' | 'connected' | 'disconnected';
  /** Why the gateway is not connected to NATS (refused credentials, unreachable server), while it is not. */
  natsError?: string;
  devices: DeviceStatus[];
  /**
   * Each point's last sample; with `sourceTime` (ms since the epoch) when its driver holds the
   * value from a notification and the device said when it was sampled or last changed: since
   * when the device's value has not changed, which the sample's time (the slot) does not say.
   */
  points: (Sample & { sourceTime?: number })[];
  outbox: OutboxStatus;
  /** The configuration running: its source and revision, and the latest one refused. */
  config: ConfigStatus;
  /** The plugins the gateway can run: built in, or installed from the hub's packages. */
  plugins?: { id: string; version: string; source: 'builtin' | 'installed' }[];
  /** The latest attempt at each plugin package the hub assigned. */
  installs?: PluginInstall[];
  /** The hosted Node-RED, when enabled: its editor's address and the values its flows published that were refused. */
  nodeRed?: { url: string; refused: number };
}
