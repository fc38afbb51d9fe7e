import { randomFillSync } from 'node:crypto';

/**
 * Random 32-bit words from a pooled crypto.randomFillSync buffer: one refill (one getrandom) per
 * POOL words, so an id costs a few array reads. Ids stay numeric until they leave the process.
 */
const POOL = 4096;
const pool = new Uint32Array(POOL);
let next = POOL;

export function randomWord(): number {
  if (next === POOL) {
    randomFillSync(pool);
    next = 0;
  }
  return pool[next++]!;
}

/** A random word that is not 0 (the high word of a span id may be 0 when the low one is not). */
export function nonZeroWord(): number {
  let word = randomWord();
  while (word === 0) word = randomWord();
  return word;
}
