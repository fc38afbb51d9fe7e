export * from './store/store.js';
