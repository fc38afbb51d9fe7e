/**
 * RFC 5424 severity levels, as BlkKin attaches them to tracepoints: lower is more severe. A
 * tracepoint is recorded when its level is at most the tracer's threshold (or its trace is forced
 * with the debug flag).
 */
export type Level = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7;

export const Levels = {
  emergency: 0,
  alert: 1,
  critical: 2,
  error: 3,
  warning: 4,
  notice: 5,
  info: 6,
  debug: 7,
} as const;

export type LevelName = keyof typeof Levels;

const NAMES = Object.keys(Levels) as LevelName[];

/** Accepts 0–7 or a level name (any case); undefined when it is neither. */
export function toLevel(value: unknown): Level | undefined {
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 0 && value <= 7 ? (value as Level) : undefined;
  }
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase();
    if (/^[0-7]$/.test(text)) return Number(text) as Level;
    const index = NAMES.indexOf(text as LevelName);
    return index >= 0 ? (index as Level) : undefined;
  }
  return undefined;
}

export function levelName(level: Level): LevelName {
  return NAMES[level]!;
}

/** The level of a span or annotation when the call site gives none. */
export const DEFAULT_LEVEL: Level = 6;
