/**
 * Which part of keelmq may import which (../shared/DESIGN.md, "Source layout"): dependencies point
 * one way, common <- io <- store <- consumer <- broker, so the store stays embeddable and the
 * client usable without a data directory. The client runtime (lib/client) works over its transport
 * interface; only lib/client/in-process-transport.ts maps it onto the consumer layer's services.
 * Rules name directories that do not exist yet (ha) so they hold from their first file on.
 */
const COMMON = '^lib/common/';
const ours = (dirs) => `^lib/(${dirs.join('|')})/`;

/** `from` may import nothing under lib/ but `allowed` (and common). */
function only(name, comment, from, allowed) {
  return {
    name,
    comment,
    severity: 'error',
    from: { path: from },
    to: { path: '^lib/', pathNot: [COMMON, ...allowed] },
  };
}

module.exports = {
  forbidden: [
    {
      name: 'store-not-upward',
      comment: 'The store is the embeddable core: it never imports the layers built on it.',
      severity: 'error',
      from: { path: '^lib/store/' },
      to: { path: ours(['consumer', 'ha', 'remoting', 'namesrv', 'broker', 'client', 'cli']) },
    },
    only('io-only-common', 'File access imports nothing of ours but common.', '^lib/io/', ['^lib/io/']),
    only('common-is-a-leaf', 'Message types, errors, clock, ids, name rules: everyone imports them, they import nothing of ours.', COMMON, []),
    only('namesrv-remoting-only', 'The name server is routes over remoting: no store, no broker.', '^lib/namesrv/', ['^lib/namesrv/', '^lib/remoting/']),
    only('remoting-only-common', 'Frames and connections know nothing of what travels in them.', '^lib/remoting/', ['^lib/remoting/']),
    {
      name: 'client-core-no-store',
      comment: 'The client (core and network transport) runs without a data directory: only the in-process transport may reach the consumer layer and the store.',
      severity: 'error',
      from: { path: '^lib/client/', pathNot: '^lib/client/.*in-process' },
      to: { path: ours(['store', 'consumer', 'ha', 'broker', 'namesrv', 'cli']) },
    },
    {
      name: 'consumer-not-upward',
      comment: 'Broker-side services over a store serve both brokers; they never import a broker, the client or the CLI.',
      severity: 'error',
      from: { path: '^lib/consumer/' },
      to: { path: ours(['broker', 'namesrv', 'client', 'cli', 'remoting']) },
    },
    {
      name: 'ha-store-and-remoting',
      comment: 'Replication uses the store and remoting, nothing above them.',
      severity: 'error',
      from: { path: '^lib/ha/' },
      to: { path: ours(['consumer', 'broker', 'namesrv', 'client', 'cli']) },
    },
    {
      name: 'only-cli-imports-cli',
      comment: 'The command line is the top: nothing in the library imports it.',
      severity: 'error',
      from: { path: '^lib/', pathNot: '^lib/cli/' },
      to: { path: '^lib/cli/' },
    },
    {
      name: 'lib-not-tests',
      comment: 'The library never imports its tests or benchmarks.',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'no-unresolvable',
      comment: 'An import that resolves to nothing fails at run time.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules|tools)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json', '.node'] },
  },
};
