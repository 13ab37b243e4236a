// Lint rules for the whole workspace (run by `npm run lint`, part of `npm test`).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.citypilot/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' } },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // A file of product code holds one job a reader can take in at once: past 600 lines, split it.
    // Tests, benchmarks and test fixtures are long lists of cases and are left out.
    files: ['**/*.ts', '**/*.tsx', '**/*.mjs', '**/*.js', '**/*.cjs'],
    ignores: ['**/*.test.ts', '**/*.test.tsx', '**/bench/**', '**/testing/**', '**/dashboard-tests/**', 'hardware-tests/**'],
    rules: { 'max-lines': ['error', { max: 600 }] },
  },
);
