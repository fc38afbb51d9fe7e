export * from './context.js';
export * from './propagation/index.js';
