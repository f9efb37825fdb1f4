// Lint rules, including the dependency rules of ARCHITECTURE.md (policies never reach into the
// compiler, runtime or server; nothing imports the CLI or admin layers).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const upperLayers = ['**/cli/**', '**/admin/**'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'schema/**', '.bench/**'] },
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
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: upperLayers, message: 'cli/ and admin/ sit at the top: only cli/ imports admin/.' },
          ],
        },
      ],
    },
  },
  {
    files: ['src/policies/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                ...upperLayers,
                '**/compiler/**',
                '**/runtime/**',
                '**/http/server*',
                '**/proxy/**',
                '**/config/**',
              ],
              message:
                'policies import only pipeline/, http/problem*, stores/ interfaces and their own folder.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/pipeline/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [...upperLayers, '**/policies/**'],
              message: 'pipeline/ never imports policies; the compiler hands it the registry.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['scripts/**/*.mjs', 'bin/**/*.js', 'eslint.config.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
