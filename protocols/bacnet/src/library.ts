import bacnet from '@bacnet-js/client';

type LibraryClientClass = typeof bacnet.default;

/**
 * @bacnet-js/client's client class. The package is CommonJS with an `exports.default`: Node hands
 * an ESM default import the whole `module.exports` (the class is its `.default`), while bundling
 * test runners hand the class itself. Either way, this is the class.
 */
export const LibraryClient: LibraryClientClass = typeof bacnet === 'function' ? (bacnet as unknown as LibraryClientClass) : bacnet.default;
export type LibraryClient = InstanceType<LibraryClientClass>;
