/**
 * Reading and writing header carriers: plain objects (Node's `IncomingHttpHeaders`, outgoing header
 * records), `Headers` (fetch), `Map`s, and Node's outgoing messages (`getHeader`/`setHeader`).
 * Header names are case-insensitive; propagation always asks for and writes lowercase names.
 */

/**
 * Anything that holds headers. Accepted shapes, tried in this order (a header record never holds
 * functions, so a `get` or `set` property that is a function marks a container):
 * - an object with `get(name)` (and `set(name, value)` to inject): `Headers`, `Map`;
 * - an object with `getHeader(name)`/`setHeader(name, value)`: Node's `ClientRequest`,
 *   `ServerResponse`;
 * - a plain object of header values (`string`, `string[]`), such as `IncomingHttpHeaders`. Reads try
 *   the lowercase name first, then any key equal to it ignoring case.
 */
export type HeaderCarrier = object;

/** Reads one header; `name` is lowercase. Returns a string, an array of strings, or nothing. */
export interface HeaderGetter<C = HeaderCarrier> {
  get(carrier: C, name: string): unknown;
}

/** Writes one header; `name` is lowercase. */
export interface HeaderSetter<C = HeaderCarrier> {
  set(carrier: C, name: string, value: string): void;
}

type Fn = (...args: unknown[]) => unknown;

function method(carrier: object, name: string): Fn | undefined {
  const f = (carrier as Record<string, unknown>)[name];
  return typeof f === 'function' ? (f as Fn) : undefined;
}

/** Own enumerable key equal to `lower` ignoring case, when the exact key is absent. */
function findKey(record: Record<string, unknown>, lower: string): string | undefined {
  for (const key in record) {
    if (!Object.prototype.hasOwnProperty.call(record, key)) continue;
    if (key.length === lower.length && key.toLowerCase() === lower) return key;
  }
  return undefined;
}

/** The default getter: handles every shape of {@link HeaderCarrier}. */
export const defaultGetter: HeaderGetter = {
  get(carrier: HeaderCarrier, name: string): unknown {
    if (carrier === null || typeof carrier !== 'object') return undefined;
    const get = method(carrier, 'get');
    if (get) return get.call(carrier, name);
    const getHeader = method(carrier, 'getHeader');
    if (getHeader) return getHeader.call(carrier, name);
    const record = carrier as Record<string, unknown>;
    if (Object.prototype.hasOwnProperty.call(record, name)) return record[name];
    const key = findKey(record, name);
    return key === undefined ? undefined : record[key];
  },
};

/**
 * A getter for Node's `IncomingHttpHeaders` (`req.headers`), whose keys are always lowercase: one
 * property read, no scan.
 */
export const nodeHeadersGetter: HeaderGetter<Record<string, unknown>> = {
  get(carrier: Record<string, unknown>, name: string): unknown {
    return Object.prototype.hasOwnProperty.call(carrier, name) ? carrier[name] : undefined;
  },
};

/**
 * The default setter: `set(name, value)` on `Headers`/`Map`, `setHeader` on Node's outgoing
 * messages, else a property of a plain object (replacing any key equal to the name ignoring case,
 * so that a carrier never holds the same header twice).
 */
export const defaultSetter: HeaderSetter = {
  set(carrier: HeaderCarrier, name: string, value: string): void {
    if (carrier === null || typeof carrier !== 'object') return;
    const set = method(carrier, 'set');
    if (set) {
      set.call(carrier, name, value);
      return;
    }
    const setHeader = method(carrier, 'setHeader');
    if (setHeader) {
      setHeader.call(carrier, name, value);
      return;
    }
    const record = carrier as Record<string, unknown>;
    if (!Object.prototype.hasOwnProperty.call(record, name)) {
      let key = findKey(record, name);
      while (key !== undefined) {
        delete record[key];
        key = findKey(record, name);
      }
    }
    record[name] = value;
  },
};

/**
 * One header's value as a single string: arrays of strings are joined with `,` (as HTTP combines
 * repeated fields); anything else that is not a string gives undefined.
 */
export function headerString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    if (value.length === 0) return undefined;
    let out = '';
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item !== 'string') return undefined;
      out = i === 0 ? item : out + ',' + item;
    }
    return out;
  }
  return undefined;
}

/** Strips HTTP optional whitespace (spaces and tabs) at both ends. */
export function trimOws(text: string): string {
  let from = 0;
  let to = text.length;
  while (from < to && (text.charCodeAt(from) === 32 || text.charCodeAt(from) === 9)) from++;
  while (to > from && (text.charCodeAt(to - 1) === 32 || text.charCodeAt(to - 1) === 9)) to--;
  return from === 0 && to === text.length ? text : text.slice(from, to);
}
