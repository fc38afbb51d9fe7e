import { MemoryStore } from '../src/store/memory.js';
import { storeConformance } from './store-conformance.js';

storeConformance('memory', async () => new MemoryStore());
