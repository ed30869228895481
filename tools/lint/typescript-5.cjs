// Preloaded (node --require) by the lint scripts. typescript-eslint and dependency-cruiser need the
// TypeScript 5 compiler API; the build uses TypeScript 7, whose package has none. This workspace
// holds TypeScript 5, but npm hoists some of their helpers (ts-api-utils) to the root, where
// require('typescript') finds TypeScript 7: inside the lint process every such require gets 5.
const Module = require('module');
const path = require('path');

const ts5 = require.resolve('typescript', { paths: [__dirname] });
if (!ts5.startsWith(path.join(__dirname, 'node_modules') + path.sep)) throw new Error(`tools/lint: expected its own TypeScript 5, found ${ts5}`);
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return resolve.call(this, request === 'typescript' ? ts5 : request, ...rest);
};
