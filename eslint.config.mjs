import { js, tseslint } from './tools/lint/index.mjs';

export default tseslint.config(
  { ignores: ['dist/', '**/node_modules/', 'bench/results/', 'fixtures/', 'scratch/', 'keelmq-data/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // `_`-prefixed names are unused on purpose (a parameter a signature requires).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // The encoders advance a cursor (`p = writeLong(buf, p, v)`) through the last field too, so every
      // field is written the same way; the last value unused is the pattern, not a bug.
      'no-useless-assignment': 'off',
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', __dirname: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
