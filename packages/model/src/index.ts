export * from './levels.js';
export * from './span.js';
export * from './limits.js';
export * from './ids.js';
export * from './normalize.js';
export * from './codec/zipkin-proto3.js';
export * from './codec/zipkin-json.js';
export * from './codec/otlp.js';
