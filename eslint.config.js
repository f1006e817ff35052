// ESLint with typescript-eslint's type-aware rules (`npm run lint`, run by `npm test` first).
// Formatting is Prettier's (.prettierrc.json); these rules catch what the types make visible:
// promises left floating or passed where a callback is expected, awaits of non-promises,
// assertions that assert nothing, values of unknown shape used as if known.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const unsafeAny = {
  '@typescript-eslint/no-explicit-any': 'off',
  '@typescript-eslint/no-unsafe-argument': 'off',
  '@typescript-eslint/no-unsafe-assignment': 'off',
  '@typescript-eslint/no-unsafe-call': 'off',
  '@typescript-eslint/no-unsafe-member-access': 'off',
  '@typescript-eslint/no-unsafe-return': 'off',
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/k6/**', 'src/up/page/**', 'examples/**', 'bin/**', '*.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // node:test's test() returns a promise the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // Values read from YAML, JSON and headers are stringified into messages on purpose.
      '@typescript-eslint/no-base-to-string': 'off',
      // An async function without await still promises its callers a promise (interfaces ask for one).
      '@typescript-eslint/require-await': 'off',
      // Patterns that match control characters (NUL in a host, a terminal's escape codes) on purpose.
      'no-control-regex': 'off',
      // A `let` assigned once after closures that read it were made (the orchestrator's wiring).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Prettier wraps code at 120; this catches what it cannot wrap (strings, comments).
      'max-len': ['error', { code: 120 }],
    },
  },
  // Tests and benchmarks read JSON answers and Envoy resources as loosely typed objects on purpose.
  { files: ['test/**', 'bench/**'], rules: { ...unsafeAny, '@typescript-eslint/unbound-method': 'off' } },
  // The revisions file is read as JSON of unknown shape.
  { files: ['src/autoscaler/revisions-file.ts'], rules: unsafeAny },
);
