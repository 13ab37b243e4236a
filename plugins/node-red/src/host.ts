import { mkdirSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { CityPilotError, type Logger } from '@citypilot/sdk';
import { createBridge, type CityPilotBridge, type NodeRedLink } from './bridge.js';
import type { NodeRedConfig } from './config.js';

/** The CityPilot nodes, plain JavaScript and HTML as Node-RED loads them (a Node-RED module). */
export const NODES_DIR = fileURLToPath(new URL('../nodes', import.meta.url));

/**
 * Node-RED keeps its runtime in module-level state: one runtime per process. This marker, on
 * the process's global object (so that two copies of this package see the same one), is held
 * by the running host.
 */
const RUNNING = Symbol.for('@citypilot/plugin-node-red:running-host');

/** The part of Node-RED's embedding API (`require('node-red')`) the host uses. */
interface NodeRedRuntime {
  init(server: Server, settings: Record<string, unknown>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  httpAdmin: RequestListener;
  httpNode: RequestListener;
}

type Express = (() => RequestListener & { use(path: string, handler: RequestListener): void }) & object;

/** Node-RED's log levels (see @node-red/util log.js). */
const ERROR = 20;
const WARN = 30;
const INFO = 40;

export interface NodeRedHostOptions {
  /** The gateway's `nodeRed` section, `flowsFile` an absolute path. */
  config: NodeRedConfig;
  /** Node-RED's own folder (its runtime settings, credentials key, context): in the gateway's data folder. */
  userDir: string;
  /** Who is hosting, for the error a second start gets (the gateway id). */
  owner: string;
  link: NodeRedLink;
  logger: Logger;
}

/** A second Node-RED runtime asked for in the same process, or one that could not start. */
export class NodeRedHostError extends CityPilotError {
  constructor(code: 'NODE_RED_ALREADY_RUNNING' | 'NODE_RED_START_FAILED', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * Node-RED embedded in the gateway's process: the editor and the admin API on their own HTTP
 * server (`host`:`port`), flows in `flowsFile`, the CityPilot nodes loaded, and the gateway
 * reached through {@link CityPilotBridge} (`RED.settings.citypilot`). At most one per process,
 * at a time; it may be started again once stopped.
 */
export class NodeRedHost {
  private stopped = false;

  private constructor(
    private readonly red: NodeRedRuntime,
    private readonly server: Server,
    private readonly bridge: CityPilotBridge,
    /** Base URL of the editor and the admin API. */
    readonly url: string,
  ) {}

  /**
   * Starts Node-RED and its flows. Resolves once the runtime has started (the flows start right
   * after, in the background).
   * @throws NodeRedHostError `NODE_RED_ALREADY_RUNNING` when this process already runs one,
   * `NODE_RED_START_FAILED` when the port is taken or the runtime fails to start
   */
  static async start(options: NodeRedHostOptions): Promise<NodeRedHost> {
    const { config, logger } = options;
    const global = globalThis as { [RUNNING]?: string };
    const running = global[RUNNING];
    if (running !== undefined) {
      throw new NodeRedHostError(
        'NODE_RED_ALREADY_RUNNING',
        `Node-RED is already running in this process (for ${running}): a gateway process hosts at most one Node-RED runtime; run the other gateway in its own process`,
      );
    }
    global[RUNNING] = options.owner;
    const require = createRequire(import.meta.url);
    let server: Server | undefined;
    let red: NodeRedRuntime | undefined;
    let bridge: CityPilotBridge | undefined;
    try {
      red = require('node-red') as NodeRedRuntime;
      const express = require('express') as Express;
      mkdirSync(options.userDir, { recursive: true });
      bridge = createBridge(config, options.link, logger);
      const app = express();
      server = createServer(app);
      red.init(server, nodeRedSettings(options, bridge));
      app.use('/', red.httpAdmin);
      app.use('/', red.httpNode);
      await red.start();
      // Only now: before the runtime has started, the admin API answers but cannot deploy.
      const listening = server;
      await new Promise<void>((resolve, reject) => {
        listening.once('error', reject);
        listening.listen(config.port, config.host, () => {
          listening.off('error', reject);
          resolve();
        });
      });
      const { port } = listening.address() as AddressInfo;
      const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
      logger.info({ url, flowsFile: config.flowsFile, points: config.points.length }, 'Node-RED started');
      return new NodeRedHost(red, listening, bridge, url);
    } catch (error) {
      await red?.stop().catch(() => undefined);
      bridge?.close();
      if (server?.listening) await closeServer(server);
      delete global[RUNNING];
      throw new NodeRedHostError('NODE_RED_START_FAILED', `Node-RED could not start on ${config.host}:${config.port}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /** Values the flows published into the gateway, and values refused. */
  stats(): { published: number; refused: number } {
    return this.bridge.stats();
  }

  /** Stops the flows (their nodes close) and the HTTP server. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      await this.red.stop();
    } finally {
      this.bridge.close();
      await closeServer(this.server);
      delete (globalThis as { [RUNNING]?: string })[RUNNING];
    }
  }
}

/** What the host hands `RED.init`: the user's pass-through settings, then what the gateway owns. */
function nodeRedSettings({ config, userDir, logger }: NodeRedHostOptions, bridge: CityPilotBridge): Record<string, unknown> {
  const user = config.settings as Record<string, unknown> & { editorTheme?: Record<string, unknown> };
  return {
    // Flows stored with the configuration are read and reviewed by people: one property a line.
    flowFilePretty: true,
    ...user,
    userDir,
    flowFile: config.flowsFile,
    nodesDir: [NODES_DIR],
    httpAdminRoot: '/',
    httpNodeRoot: '/',
    citypilot: bridge,
    // A gateway does not reach the Internet on its own: no telemetry, no update check, no
    // installing nodes from the palette, no diagnostics endpoint.
    telemetry: { enabled: false, updateNotification: false },
    diagnostics: { enabled: false, ui: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false, allowUpload: false }, modules: { allowInstall: false } },
    editorTheme: {
      ...user.editorTheme,
      // Projects (git) off; `enabled: false` would be logged as a warning at every start.
      projects: {},
      tours: false,
    },
    logging: {
      citypilot: {
        level: 'debug',
        metrics: false,
        audit: false,
        handler: () => (entry: { level: number; msg: unknown; type?: string; name?: string; id?: string }) => {
          const text = entry.msg instanceof Error ? entry.msg.message : typeof entry.msg === 'string' ? entry.msg : JSON.stringify(entry.msg);
          const fields = { nodeRed: true, ...(entry.type ? { node: { type: entry.type, id: entry.id, name: entry.name } } : {}) };
          if (entry.level <= ERROR) logger.error(fields, text);
          else if (entry.level <= WARN) logger.warn(fields, text);
          else if (entry.level <= INFO) logger.info(fields, text);
          else logger.debug(fields, text);
        },
      },
    },
  };
}

async function closeServer(server: Server): Promise<void> {
  // The editor's websocket and keep-alive connections would hold close() open.
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
