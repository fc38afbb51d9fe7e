export * from './store/store.js';
export {
  startServer,
  DEFAULTS,
  type ServerOptions,
  type BlkkinServer,
  type StorageOption,
} from './server.js';
export { MemoryStore } from './store/memory.js';
export { DuckDbStore } from './store/duckdb.js';
