// What the benchmark (read-and-cov.ts) and its simulator process (simulator-process.ts) share: the shape
// of the devices and the messages over their IPC channel.

/** Analog inputs of each simulated device, instances BENCH_FIRST_INSTANCE and up. */
export const BENCH_POINTS = 1000;
export const BENCH_FIRST_INSTANCE = 1000;
export const BENCH_DEVICE_INSTANCE = 1234;
/** One simulated device per max APDU: 1476 (BACnet/IP's largest, the figures' device) and 480 (small controllers). */
export const BENCH_MAX_APDUS = [1476, 480] as const;
export type BenchMaxApdu = (typeof BENCH_MAX_APDUS)[number];

export type ParentMessage =
  | { type: 'stats'; maxApdu: BenchMaxApdu }
  /** Change every object in turn for `seconds`; `rate` changes a second, 0 for as fast as possible. */
  | { type: 'cov'; maxApdu: BenchMaxApdu; seconds: number; rate: number }
  | { type: 'stop' };

export type ChildMessage =
  | { type: 'ready'; ports: Record<number, number>; pid: number }
  | { type: 'stats'; requests: Record<string, number>; covNotifications: number; subscriptions: number; cpu: NodeJS.CpuUsage }
  | { type: 'cov-done'; changes: number; sent: number; seconds: number; cpuPercent: number };
