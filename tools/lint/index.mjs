// typescript-eslint and dependency-cruiser need the TypeScript 5 compiler API; the build uses
// TypeScript 7, which has none. This workspace holds TypeScript 5 for them alone, so the root
// configs import the lint packages through here.
export { default as js } from '@eslint/js';
export { default as tseslint } from 'typescript-eslint';
