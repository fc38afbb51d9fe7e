/** Id rules of Zipkin's model: lowercase hex, shorter ids left-padded, all-zero ids refused. */

const HEX = /^[0-9a-f]+$/;

/** The problem with a raw id, or undefined when it can be normalised. */
function hexProblem(id: string, maxLength: number): string | undefined {
  if (id.length === 0) return 'is empty';
  if (id.length > maxLength) return `is longer than ${maxLength} hex digits`;
  if (!HEX.test(id)) return 'is not lowercase hex';
  return undefined;
}

/** 16 or 32 digits; a 32-digit id whose high half is zero becomes its 16-digit low half. */
export function normalizeTraceId(raw: string): string | { error: string } {
  const id = raw.toLowerCase();
  const problem = hexProblem(id, 32);
  if (problem) return { error: problem };
  const padded = id.length <= 16 ? id.padStart(16, '0') : id.padStart(32, '0');
  if (/^0+$/.test(padded)) return { error: 'is all zeros' };
  return padded.length === 32 && padded.startsWith('0000000000000000') ? padded.slice(16) : padded;
}

/** 16 digits. */
export function normalizeSpanId(raw: string): string | { error: string } {
  const id = raw.toLowerCase();
  const problem = hexProblem(id, 16);
  if (problem) return { error: problem };
  const padded = id.padStart(16, '0');
  if (padded === '0000000000000000') return { error: 'is all zeros' };
  return padded;
}

const HEX_DIGITS = '0123456789abcdef';
const BYTE_TO_HEX: string[] = Array.from(
  { length: 256 },
  (_, b) => HEX_DIGITS[b >> 4]! + HEX_DIGITS[b & 15]!,
);

/** Lowercase hex of bytes [start, end). */
export function bytesToHex(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let out = '';
  for (let i = start; i < end; i++) out += BYTE_TO_HEX[bytes[i]!]!;
  return out;
}

/** Bytes of an even-length hex string (no validation: callers pass normalised ids). */
export function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}
