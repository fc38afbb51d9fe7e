export * from './levels.js';
export * from './span.js';
export * from './limits.js';
export * from './ids.js';
export * from './normalize.js';
export * from './codec/otlp.js';
