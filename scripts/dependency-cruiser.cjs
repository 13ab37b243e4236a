// The packages' allowed imports, checked by dependency-cruiser in `npm test` (`npm run check:imports`).
// docs/architecture.md draws the same layers; change both together.
//
// From the bottom up:
//   protocols/*     field protocols and CityPilot's own wire contract: nothing of ours
//   plugins/sdk     what a plugin author reads: may use protocols/wire (the batch format)
//   plugins/<name>  one driver each: the SDK and the protocol packages, never another driver
//   gateway         the building's process: the plugins, the SDK, the protocols
//   hub             the central process: the wire contract and the SDK's plain helpers, never
//                   the gateway, a driver, a field protocol or node-opcua (its tests may start
//                   gateways and simulators: they are the exception, and only in test files)
//   scripts/citypilot  the one `citypilot` command and the demo: composes the hub and the gateway
//   hardware-tests  tests against real devices: anything but the composed command
//
// Paths are the files' real paths (workspace links resolved): `@citypilot/gateway` is gateway/….
/* eslint-disable */
const TEST = '(\\.test\\.tsx?$|/testing/|/dashboard-tests/|/bench/)';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A module must not import, directly or through others, the module that imports it: split out what both need.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'protocols-depend-on-nothing-of-ours',
      severity: 'error',
      comment: 'A protocol package stands alone: another project could use it without CityPilot.',
      from: { path: '^protocols/([^/]+)/' },
      to: { path: '^(protocols/|plugins/|gateway/|hub/|scripts/|hardware-tests/)', pathNot: '^protocols/$1/' },
    },
    {
      name: 'sdk-only-on-the-wire-contract',
      severity: 'error',
      comment: 'The SDK sits under every plugin: it may use the wire contract and nothing else of ours.',
      from: { path: '^plugins/sdk/' },
      to: { path: '^(protocols/|plugins/|gateway/|hub/|scripts/|hardware-tests/)', pathNot: '^(plugins/sdk/|protocols/wire/)' },
    },
    {
      name: 'a-driver-stands-on-the-sdk',
      severity: 'error',
      comment: 'A driver plugin uses the SDK and protocol packages, never another plugin or a process above it.',
      from: { path: '^plugins/([^/]+)/', pathNot: '^plugins/sdk/' },
      to: { path: '^(plugins/|gateway/|hub/|scripts/|hardware-tests/)', pathNot: '^plugins/($1|sdk)/' },
    },
    {
      name: 'gateway-below-the-command',
      severity: 'error',
      comment: 'The gateway sits beside the hub, under the composed command.',
      from: { path: '^gateway/' },
      to: { path: '^(hub/|scripts/|hardware-tests/)' },
    },
    {
      name: 'hub-beside-the-gateway',
      severity: 'error',
      comment:
        'The hub talks to gateways through the wire contract only: importing the gateway, a driver or a field protocol would pull every driver and node-opcua into the hub.',
      from: { path: '^hub/', pathNot: TEST },
      to: { path: '^(gateway/|plugins/(?!sdk/)|protocols/(?!wire/)|scripts/|hardware-tests/)|node_modules/node-opcua' },
    },
    {
      name: 'hub-tests-below-the-command',
      severity: 'error',
      comment: "The hub's tests may start gateways and simulators, but not the composed command's code.",
      from: { path: `^hub/.*${TEST}` },
      to: { path: '^(scripts/|hardware-tests/)' },
    },
    {
      name: 'hardware-tests-below-the-command',
      severity: 'error',
      from: { path: '^hardware-tests/' },
      to: { path: '^scripts/' },
    },
  ],
  options: {
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    // Workspace packages resolve to their built files (exports point at dist/): named as targets,
    // never crawled; each package's sources are crawled from its own folder instead.
    doNotFollow: { path: ['node_modules', '/dist/'] },
    exclude: { path: ['\\.d\\.ts$'] },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'default', 'node'],
      extensions: ['.ts', '.tsx', '.js', '.mjs', '.d.ts'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
