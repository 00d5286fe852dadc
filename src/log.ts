/** A minimal leveled logger; the CLI picks the level, the library defaults to silence. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

const LEVEL_RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** Where the stack logs: one method per level. */
export interface Logger {
  /** Log at level error. */
  error(message: string): void;
  /** Log at level warn. */
  warn(message: string): void;
  /** Log at level info. */
  info(message: string): void;
  /** Log at level debug. */
  debug(message: string): void;
  /** Whether `level` is logged: callers skip building messages that would be dropped. */
  enabled(level: LogLevel): boolean;
}

export function isLogLevel(value: string): value is LogLevel {
  return value in LEVEL_RANK;
}

/** A logger writing one line per message at `level` and above, by default to stderr. */
export function createLogger(level: LogLevel, write: (line: string) => void = (line) => process.stderr.write(line + '\n')): Logger {
  const rank = LEVEL_RANK[level];
  const at = (l: LogLevel) => (message: string) => {
    if (LEVEL_RANK[l] <= rank) write(`${l} ${message}`);
  };
  return {
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    enabled: (l) => LEVEL_RANK[l] <= rank,
  };
}

export const silentLogger: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
  enabled: () => false,
};

/** An exception as one log line's detail: its stack when it has one (faults are logged, not thrown). */
export function errorDetail(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
