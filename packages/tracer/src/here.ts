/**
 * This module's URL. The CommonJS build (scripts/build-cjs.js) rewrites the expression below to
 * `require('node:url').pathToFileURL(__filename).href`.
 */
// eslint-disable-next-line @typescript-eslint/ban-ts-comment
// @ts-ignore -- import.meta is not allowed in the CommonJS build, where this line is rewritten
export const HERE: string = import.meta.url;
