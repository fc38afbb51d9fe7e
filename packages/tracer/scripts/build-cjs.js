#!/usr/bin/env node
// The CommonJS flavour of @blkkin/tracer: a second tsc pass into dist/cjs, marked CommonJS, with
// the one ESM-only expression (src/here.ts: import.meta.url) rewritten. Run after `tsc -b`.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.cjs.json')], { stdio: 'inherit' });
const out = join(root, 'dist', 'cjs');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'package.json'), '{ "type": "commonjs" }\n');
const here = join(out, 'here.js');
const text = readFileSync(here, 'utf8');
const rewritten = text.replace(
  /import\.meta\.url/g,
  "require('node:url').pathToFileURL(__filename).href",
);
if (rewritten === text && !text.includes('pathToFileURL(__filename)'))
  throw new Error('build-cjs: import.meta.url not found in here.js');
writeFileSync(here, rewritten);
