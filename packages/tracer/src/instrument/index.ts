/** Opt-in automatic instrumentation: node:http / node:https servers and clients, global fetch. */
export {
  instrumentHttp,
  type HttpInstrumentationOptions,
  type Instrumentation,
  type OutgoingRequestInfo,
} from './http.js';
export {
  instrumentFetch,
  type FetchInstrumentationOptions,
  type FetchRequestInfo,
} from './fetch.js';
export { suppressInstrumentation, type InstrumentationOptions } from './common.js';
