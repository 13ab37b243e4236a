// The benchmark's baseline: the naive way to poll the same registers, a bare Node process with
// modbus-serial (the library protocols/modbus uses) reading every device's ranges on the same
// interval and decoding them into numbers, with nothing else: no plugin, no normalisation, no
// outbox, no forwarding. What the gateway uses beyond this is its own overhead.
//
// Started by gateway.ts with an IPC channel, over which it first receives { devices, intervalMs,
// offsetMs } (each device's port and read ranges); sends 'started' once connected, polls every device concurrently on a grid aligned to the clock
// plus offsetMs, answers { cycles, values, errors } to 'count', and stops on 'stop' or when its
// parent goes. Imports nothing of CityPilot, so that its memory is the bare minimum.
import modbusSerial from 'modbus-serial';

const ModbusRTU = modbusSerial.default;

/** A contiguous range one request reads, and where each point's value sits in it. */
export interface BaselineRead {
  table: 'holding' | 'input' | 'coil' | 'discrete';
  address: number;
  count: number;
  /** Offset in registers (or bits) and type of each value in the range. */
  values: { offset: number; type: 'float32' | 'uint32' | 'int16' | 'bool'; lowWordFirst: boolean }[];
}

export interface BaselineSetup {
  devices: { port: number; reads: BaselineRead[] }[];
  intervalMs: number;
  offsetMs: number;
}

const counts = { cycles: 0, values: 0, errors: 0 };
let timer: NodeJS.Timeout | undefined;

async function pollDevice(client: InstanceType<typeof ModbusRTU>, reads: BaselineRead[]): Promise<void> {
  const words = new DataView(new ArrayBuffer(4));
  for (const r of reads) {
    try {
      if (r.table === 'coil' || r.table === 'discrete') {
        const { data } = r.table === 'coil' ? await client.readCoils(r.address, r.count) : await client.readDiscreteInputs(r.address, r.count);
        for (const v of r.values) if (typeof data[v.offset] === 'boolean') counts.values++;
        continue;
      }
      const { data } = r.table === 'holding' ? await client.readHoldingRegisters(r.address, r.count) : await client.readInputRegisters(r.address, r.count);
      let sum = 0;
      for (const v of r.values) {
        if (v.type === 'int16') sum += (data[v.offset]! << 16) >> 16;
        else {
          const [hi, lo] = v.lowWordFirst ? [data[v.offset + 1]!, data[v.offset]!] : [data[v.offset]!, data[v.offset + 1]!];
          words.setUint16(0, hi);
          words.setUint16(2, lo);
          sum += v.type === 'float32' ? words.getFloat32(0) : words.getUint32(0);
        }
        counts.values++;
      }
      if (Number.isNaN(sum)) counts.errors++;
    } catch {
      counts.errors++;
    }
  }
}

async function start(setup: BaselineSetup): Promise<void> {
  const clients = await Promise.all(
    setup.devices.map(async (d) => {
      const client = new ModbusRTU();
      await client.connectTCP('127.0.0.1', { port: d.port });
      client.setID(1);
      client.setTimeout(2000);
      return { client, reads: d.reads };
    }),
  );
  let busy = false;
  const schedule = () => {
    const now = Date.now();
    const next = Math.floor((now - setup.offsetMs) / setup.intervalMs + 1) * setup.intervalMs + setup.offsetMs;
    timer = setTimeout(() => {
      schedule();
      if (busy) return;
      busy = true;
      void Promise.all(clients.map((c) => pollDevice(c.client, c.reads))).finally(() => {
        busy = false;
        counts.cycles++;
      });
    }, next - now);
  };
  schedule();
  process.send!('started');
}

process.on('message', (message: BaselineSetup | string) => {
  if (message === 'count') process.send!(counts);
  else if (message === 'stop') {
    clearTimeout(timer);
    process.exit(0);
  } else if (typeof message === 'object') void start(message);
});
process.on('disconnect', () => process.exit(0));
