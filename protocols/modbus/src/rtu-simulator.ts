import modbusSerial from 'modbus-serial';
import type { Readable } from 'node:stream';
import { simulatorVector, type SimulatedDevice } from './simulator.js';
import type { SerialParity } from './client.js';

// Undefined when the optional `serialport` package (native bindings) is not installed.
const { ServerSerial } = modbusSerial;
type ServerSerial = InstanceType<typeof ServerSerial>;

export interface ModbusRtuSimulatorOptions {
  /** The serial port the devices answer on: one end of a pty pair in tests. */
  path: string;
  /** Default 9600. */
  baudRate?: number;
  /** Default `even`, the Modbus RTU default. */
  parity?: SerialParity;
  /** Default 8. */
  dataBits?: 7 | 8;
  /** Default 1. */
  stopBits?: 1 | 2;
  /** The devices on the line by unit id (1..247); a request for any other unit gets no answer. */
  devices: ReadonlyMap<number, SimulatedDevice>;
  /** How long every device takes to answer, in milliseconds. Default 0. */
  answerDelayMs?: number;
  /** How often moving values are updated, in milliseconds. Default 1000. */
  tickMs?: number;
}

/** One request heard on the line. */
export interface HeardRequest {
  unitId: number;
  functionCode: number;
  /** When the request frame was complete, in ms since the epoch. */
  receivedAt: number;
  /** When the answer was written; undefined while none was (or for a unit that does not answer). */
  answeredAt?: number;
}

/**
 * Modbus RTU devices on a serial line, for tests and the demo: each {@link SimulatedDevice}
 * answers its unit id, one frame at a time, as RS-485 devices do. It records what it hears
 * ({@link requests}, {@link maxInFlight}) so that tests can check a client's timing.
 */
export class ModbusRtuSimulator {
  /** Requests heard, in order of arrival. */
  readonly requests: HeardRequest[] = [];
  private server: ServerSerial | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly answerTimers = new Set<NodeJS.Timeout>();
  private inFlight = 0;
  private mostInFlight = 0;

  constructor(private readonly options: ModbusRtuSimulatorOptions) {}

  /** The most requests that waited for an answer at one time: above 1, a client did not wait for an answer. */
  get maxInFlight(): number {
    return this.mostInFlight;
  }

  /** Opens the serial port and starts updating values. */
  async start(): Promise<void> {
    if (this.server) throw new Error('the simulator is already started');
    if (!ServerSerial) throw new Error('serial ports need the serialport package, which is not installed');
    const { path, baudRate = 9600, parity = 'even', dataBits = 8, stopBits = 1, devices } = this.options;
    let server: ServerSerial | undefined;
    await new Promise<void>((resolve, reject) => {
      const options = {
        path,
        baudRate,
        parity,
        dataBits,
        stopBits,
        // Silence that ends a request frame, in ms. The standard's 3.5 characters are about 4 ms
        // at 9600 baud; modbus-serial's 30 ms default would slow every test request.
        interval: 5,
        // Answers go through us, to delay them and to note when they leave.
        portResponse: { write: (frame: Buffer) => this.answer(frame) },
        openCallback: (error: Error | null) => (error ? reject(error) : resolve()),
      };
      server = new ServerSerial(
        simulatorVector((unitId) => devices.get(unitId)),
        options,
      );
    });
    this.server = server!;
    this.server.on('socketError', () => undefined);
    this.server.on('error', () => undefined);
    // ServerSerial's framer: one 'data' event per request frame, before the frame is handled.
    (this.server as unknown as { _server: Readable })._server.on('data', (frame: Buffer) => this.heard(frame));
    this.timer = setInterval(() => {
      for (const device of devices.values()) device.tick();
    }, this.options.tickMs ?? 1000);
  }

  /** Stops the timer and closes the serial port; answers not yet written are dropped. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const t of this.answerTimers) clearTimeout(t);
    this.answerTimers.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private heard(frame: Buffer): void {
    if (frame.length < 4) return;
    const unitId = frame[0]!;
    const device = this.options.devices.get(unitId);
    this.requests.push({ unitId, functionCode: frame[1]!, receivedAt: Date.now() });
    // Only requests that will be answered are in flight: a silent device's never end.
    if (device && !device.silenced) this.mostInFlight = Math.max(this.mostInFlight, ++this.inFlight);
  }

  private answer(frame: Buffer): void {
    const send = () => {
      const port = (this.server as unknown as { getPort(): { write(b: Buffer): void } } | undefined)?.getPort();
      if (!port) return;
      const unitId = frame[0];
      const request = this.requests.findLast((r) => r.unitId === unitId && r.answeredAt === undefined);
      if (request) request.answeredAt = Date.now();
      this.inFlight = Math.max(0, this.inFlight - 1);
      port.write(frame);
    };
    const delay = this.options.answerDelayMs ?? 0;
    if (delay <= 0) return send();
    const timer = setTimeout(() => {
      this.answerTimers.delete(timer);
      send();
    }, delay);
    this.answerTimers.add(timer);
  }
}
