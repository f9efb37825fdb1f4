// Lint rules, including the dependency rules of docs/architecture.md: the local rule `portico/layers`
// (scripts/eslint/layers.js, which holds the layer table) checks every import between the folders of src/.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import portico from './scripts/eslint/layers.js';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'schema/**', '.bench/**', '.probe/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Imports run down the layers; policies stay in their folder; cli/ and admin/ sit at the top.
    // Tests and test support (testing.ts, which the rule skips itself) may import anything.
    files: ['src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    plugins: { portico },
    rules: { 'portico/layers': 'error' },
  },
  {
    // Small files: a file past 400 lines is split by responsibility. Every line counts.
    files: ['src/**/*.ts'],
    ignores: ['**/*.test.ts', '**/testing.ts'],
    rules: { 'max-lines': ['error', { max: 400, skipBlankLines: false, skipComments: false }] },
  },
  {
    files: ['scripts/**/*.mjs', 'scripts/eslint/**/*.js', 'bin/**/*.js', 'eslint.config.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
