/**
 * Logs: pino, JSON lines by default, readable lines when stdout is a terminal.
 */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export interface LoggerOptions {
  level: string;
  /** Human-readable output; default: when stdout is a terminal. */
  pretty?: boolean;
}

export function createLogger(options: LoggerOptions): Logger {
  const readable = options.pretty ?? process.stdout.isTTY === true;
  const base = { level: options.level, base: { pid: process.pid } };
  return readable ? pino(base, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', sync: true })) : pino(base);
}
