// Rewrites src/envoy/envoy-types.ts from Envoy's protos (`npm run generate:envoy-types`), formatted
// with the project's Prettier settings; test/structure/envoy-types.test.ts fails while it is out of date.
import { writeFileSync } from 'node:fs';
import * as prettier from 'prettier';
import { renderEnvoyTypes } from '../src/envoy/type-generator.js';
import { packagePath } from '../src/package-root.js';

/** The generated source file, wherever this runs from (tsx, or the tests' build). */
export const ENVOY_TYPES_FILE = packagePath('src', 'envoy', 'envoy-types.ts');

/** The file as it should be committed. */
export async function formattedEnvoyTypes(): Promise<string> {
  const options = await prettier.resolveConfig(ENVOY_TYPES_FILE);
  return prettier.format(renderEnvoyTypes(), { ...options, filepath: ENVOY_TYPES_FILE });
}

if (process.argv[1] === import.meta.filename) {
  writeFileSync(ENVOY_TYPES_FILE, await formattedEnvoyTypes());
  console.log(`wrote ${ENVOY_TYPES_FILE}`);
}
