#!/usr/bin/env -S node --max-semi-space-size=64
// A large young generation: ingested batches die young, and promoting them costs the most GC.
import { main } from '../packages/cli/dist/src/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    console.error(`blkkin: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
