/** Command-line units: durations (`7d`, `90s`, `500ms`) and sizes (`16MiB`, `512k`). */

const DURATION_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/** Milliseconds; a bare number is days when `bareUnit` is 'd'. */
export function parseDuration(text: string, bareUnit: keyof typeof DURATION_MS = 'ms'): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?$/i.exec(text.trim());
  if (!match)
    throw new Error(`'${text}' is not a duration: use a number with ms, s, m, h, d or w (e.g. 7d)`);
  const unit = (match[2] ?? bareUnit).toLowerCase();
  return Math.round(Number(match[1]) * DURATION_MS[unit]!);
}

const SIZE: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/** Bytes. */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const factor = match ? SIZE[match[2]!.toLowerCase()] : undefined;
  if (!match || factor === undefined) {
    throw new Error(
      `'${text}' is not a size: use bytes or a number with k, M, G, KiB, MiB, GiB (e.g. 16MiB)`,
    );
  }
  return Math.round(Number(match[1]) * factor);
}
