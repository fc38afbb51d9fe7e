/** Severity levels of RFC 5424 (syslog), as BlkKin uses them per tracepoint: lower is more severe. */
export const LEVEL_NAMES = [
  'emergency',
  'alert',
  'critical',
  'error',
  'warning',
  'notice',
  'info',
  'debug',
] as const;

export type Level = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7;
export type LevelName = (typeof LEVEL_NAMES)[number];

export const Levels = {
  emergency: 0,
  alert: 1,
  critical: 2,
  error: 3,
  warning: 4,
  notice: 5,
  info: 6,
  debug: 7,
} as const satisfies Record<LevelName, Level>;

export function isLevel(value: unknown): value is Level {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 7;
}

/** Accepts 0–7 or a level name ("warning", "WARNING"); undefined when it is neither. */
export function parseLevel(value: unknown): Level | undefined {
  if (isLevel(value)) return value;
  if (typeof value === 'string') {
    const trimmed = value.trim().toLowerCase();
    if (/^[0-7]$/.test(trimmed)) return Number(trimmed) as Level;
    const index = (LEVEL_NAMES as readonly string[]).indexOf(trimmed);
    if (index >= 0) return index as Level;
  }
  return undefined;
}

export function levelName(level: Level): LevelName {
  return LEVEL_NAMES[level];
}
