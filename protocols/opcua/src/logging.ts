import { format, stripVTControlCharacters } from 'node:util';
import { setErrorLogger, setWarningLogger } from 'node-opcua-client';

/** Where node-opcua's own warnings and errors go: pino's signature, as CityPilot's loggers have. */
export interface OpcuaLibraryLogSink {
  debug(obj: object, msg?: string): void;
}

/** A node-opcua message as one line of text, without the terminal's colour codes. */
function text(args: unknown[]): string {
  return stripVTControlCharacters(format(...args))
    .trim()
    .replace(/\s*\n\s*/g, ' ');
}

// Until a logger is given: on stderr, never on stdout, where a command's output (a discovered
// device block, a simulator's device block) and a daemon's JSON log lines go. node-opcua warns
// a few seconds after it is loaded (its check of RSA PKCS#1 v1.5 support), before any driver
// has connected; its logger is the process's, whatever we do, hence this module-level setting.
setWarningLogger((_context?: unknown, ...args: unknown[]) => void process.stderr.write(`node-opcua warning: ${text(args)}\n`));
setErrorLogger((_context?: unknown, ...args: unknown[]) => void process.stderr.write(`node-opcua error: ${text(args)}\n`));

/**
 * Sends node-opcua's warnings and errors to `sink` at level debug, instead of stderr (see above;
 * node-opcua's own default is `console.log`, on stdout). They are the library's internals: its
 * check of the platform's RSA support (a warning about the Node version even with security
 * None), the dump of each OperationLimits node a server lacks at every reconnection, a socket's
 * end. What a technician acts on (a connection lost, a certificate refused, a node refused)
 * reaches the gateway as the client's errors and the driver's own messages, in sentences.
 * node-opcua keeps one setting for the whole process: the last call wins. Each message, on one
 * line, carries `source: 'node-opcua'`, node-opcua's level (`warning` or `error`) and the
 * library file that raised it.
 */
export function routeOpcuaLibraryLogs(sink: OpcuaLibraryLogSink): void {
  const forward =
    (level: 'warning' | 'error') =>
    (context?: unknown, ...args: unknown[]) => {
      const where = context as { filename?: string; callerline?: number } | undefined;
      sink.debug({ source: 'node-opcua', level, file: where?.filename ? `${where.filename}:${where.callerline ?? '?'}` : undefined }, text(args));
    };
  setWarningLogger(forward('warning'));
  setErrorLogger(forward('error'));
}
