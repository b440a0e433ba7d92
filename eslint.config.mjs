// Lint: typescript-eslint's recommended rules, plus the two type-aware rules that catch what bites a process
// supervisor: a promise nobody awaits (an unhandled rejection kills the supervisor) and a switch that misses a case
// of a union (a new state or provider silently falls through). Formatting is prettier's (npm run format).
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {ignores: ['dist/**', 'node_modules/**', 'test/.cache/**', 'test/.tmp/**', 'bench/.cache/**', 'bench/**', 'scripts/**', 'examples/**', 'test/fixtures/**', 'test/fakes/bin/**', '**/*.mjs', '**/*.js']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['src/**/*.ts', 'test/**/*.ts'],
    languageOptions: {parserOptions: {project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname}},
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', {considerDefaultExhaustiveForUnions: true}],
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-explicit-any': 'error',
      'no-empty': ['error', {allowEmptyCatch: true}],
    },
  },
  {
    // Issue 14's limits: a file a newcomer can read in one sitting, a function that fits on a screen.
    files: ['src/**/*.ts'],
    rules: {'max-lines': ['error', {max: 500}], 'max-lines-per-function': ['error', {max: 100}]},
  },
  {
    files: ['test/**/*.ts'],
    // Tests read JSON outputs loosely (the schema tests check their shape); src keeps no-explicit-any.
    rules: {'@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-floating-promises': 'off'},
  },
)
