import bacnet from '@bacnet-js/client';

// What this package works around in @bacnet-js/client 3.3.2, found while building it (each is
// covered by a test here):
// - its UDP transport binds with SO_REUSEADDR, maps port 0 to 47808, names a sender on 47808 by
//   its IP alone and then drops every request from "127.0.0.1" (transport.ts replaces it);
// - it matches answers by invoke id alone, from any sender (client.ts checks the peer);
// - it reports a Reject PDU as "BacnetAbort" (client.ts tells them apart by peeking the PDU);
// - options.invokeId 0, maxSegments 0 (SEGMENTS_0) and maxApdu 0 (OCTETS_50) are falsy and
//   replaced by its defaults, so a request always says it accepts 65 segments of 1476 octets
//   (client.ts rewrites the header: no segmented answers);
// - it reassembles segmented answers in one store for the whole socket, not per transaction;
// - it takes a Segment-ACK for a segment of a request (simulator.ts handles them itself);
// - ReadPropertyMultiple drops an array index of 0 from the request (client.ts reads those by
//   ReadProperty);
// - CovNotify.encode writes an array index when it is ASN1_ARRAY_ALL and a priority of 0 when
//   there is none (simulator.ts passes neither); initiatingDeviceId is typed as a number but
//   decoded as an object identifier;
// - an unhandled confirmed service is answered with an Error PDU (services /
//   reject-unrecognized-service) where the standard wants a Reject (both sides send Rejects);
// - its iAmResponse announces the socket's payload size as the max APDU (the simulator encodes
//   its I-Am itself);
// - some of its decoders throw on truncated datagrams, from the socket's handler (transport.ts
//   catches them).

type LibraryClientClass = typeof bacnet.default;

/**
 * @bacnet-js/client's client class. The package is CommonJS with an `exports.default`: Node hands
 * an ESM default import the whole `module.exports` (the class is its `.default`), while bundling
 * test runners hand the class itself. Either way, this is the class.
 */
export const LibraryClient: LibraryClientClass = typeof bacnet === 'function' ? (bacnet as unknown as LibraryClientClass) : bacnet.default;
export type LibraryClient = InstanceType<LibraryClientClass>;
