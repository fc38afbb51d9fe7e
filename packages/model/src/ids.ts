/** Id rules of Zipkin's model: lowercase hex, shorter ids left-padded, all-zero ids refused. */

/**
 * Scans an id: -1 when a character is not hex, else a bit set: 1 = has an uppercase digit,
 * 2 = has a non-zero digit. One pass, no allocation: ids are checked on every ingested span.
 */
function scanHex(id: string): number {
  let flags = 0;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (c !== 48) flags |= 2;
    } else if (c >= 97 && c <= 102) flags |= 2;
    else if (c >= 65 && c <= 70) flags |= 3;
    else return -1;
  }
  return flags;
}

function normalizeHex(raw: string, maxLength: number): string | { error: string } {
  if (raw.length === 0) return { error: 'is empty' };
  if (raw.length > maxLength) return { error: `is longer than ${maxLength} hex digits` };
  const flags = scanHex(raw);
  if (flags < 0) return { error: 'is not hex' };
  if ((flags & 2) === 0) return { error: 'is all zeros' };
  return flags & 1 ? raw.toLowerCase() : raw;
}

/** 16 or 32 digits; a 32-digit id whose high half is zero becomes its 16-digit low half. */
export function normalizeTraceId(raw: string): string | { error: string } {
  const id = normalizeHex(raw, 32);
  if (typeof id !== 'string') return id;
  if (id.length === 16) return id;
  if (id.length < 16) return id.padStart(16, '0');
  const padded = id.length === 32 ? id : id.padStart(32, '0');
  return padded.startsWith('0000000000000000') ? padded.slice(16) : padded;
}

/** 16 digits. */
export function normalizeSpanId(raw: string): string | { error: string } {
  const id = normalizeHex(raw, 16);
  if (typeof id !== 'string') return id;
  return id.length === 16 ? id : id.padStart(16, '0');
}

/** Whether an id is made of zeros only ("0", "0000000000000000"): Zipkin's way to say none. */
export function isZeroId(raw: string): boolean {
  return raw.length > 0 && scanHex(raw) === 0;
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
