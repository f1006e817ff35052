// Envoy's edge rules for forwarded headers (use_remote_address: true), with the examples of
// Envoy's "HTTP header manipulation" page as cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { edgeHeaders, trustedClientAddress, type EdgePolicy } from '../../src/gateway/edge-headers.js';

test('trusted client address: the peer with no trusted hops, else the Nth from the right of what came in', () => {
  const cases: Array<[string, string, number, string]> = [
    [
      'example 1: edge, no trusted proxy, XFF ignored',
      '203.0.113.128, 203.0.113.10, 203.0.113.1, 192.0.2.5',
      0,
      '192.0.2.5',
    ],
    [
      'example 3: two trusted proxies in front',
      '203.0.113.128, 203.0.113.10, 203.0.113.1, 192.0.2.5',
      2,
      '203.0.113.10',
    ],
    ['one trusted hop', '203.0.113.128, 203.0.113.10, 203.0.113.1, 192.0.2.5', 1, '203.0.113.1'],
    ['fewer addresses than trusted hops: the peer', '203.0.113.1, 192.0.2.5', 2, '192.0.2.5'],
    ['no XFF from the client', '192.0.2.5', 1, '192.0.2.5'],
  ];
  for (const [name, xff, hops, want] of cases) assert.equal(trustedClientAddress(xff, hops), want, name);
});

const edge = (hops: number, preserve = false): EdgePolicy => ({
  useRemoteAddress: true,
  xffNumTrustedHops: hops,
  preserveExternalRequestId: preserve,
});
const asObject = (flat: string[]) => {
  const o: Record<string, string[]> = {};
  for (let i = 0; i < flat.length; i += 2) (o[flat[i]!] ??= []).push(flat[i + 1]!);
  return o;
};

test('at the edge with no trusted hops: client proto, request id, Forwarded and Envoy headers do not pass', () => {
  const incoming = [
    'host',
    'a.example.com',
    'x-forwarded-proto',
    'https',
    'x-request-id',
    'client-chosen',
    'forwarded',
    'for=1.2.3.4;proto=https',
    'x-envoy-internal',
    'true',
    'x-envoy-external-address',
    '10.0.0.1',
    'x-forwarded-for',
    '1.2.3.4, 192.0.2.5',
  ];
  assert.deepEqual(asObject(edgeHeaders(incoming, edge(0), 'http', () => 'new-id')), {
    host: ['a.example.com'],
    'x-forwarded-for': ['1.2.3.4, 192.0.2.5'],
    'x-forwarded-proto': ['http'],
    'x-request-id': ['new-id'],
    'x-envoy-external-address': ['192.0.2.5'],
  });
});

test(
  'with trusted hops: a valid downstream X-Forwarded-Proto and ' +
    'Forwarded are kept; preserve_external_request_id keeps the id',
  () => {
    const incoming = [
      'x-forwarded-proto',
      'https',
      'x-request-id',
      'abc',
      'forwarded',
      'for=203.0.113.10',
      'x-forwarded-for',
      '203.0.113.10, 192.0.2.5',
    ];
    assert.deepEqual(asObject(edgeHeaders(incoming, edge(1, true), 'http', () => 'new-id')), {
      forwarded: ['for=203.0.113.10'],
      'x-forwarded-for': ['203.0.113.10, 192.0.2.5'],
      'x-forwarded-proto': ['https'],
      'x-request-id': ['abc'],
      'x-envoy-external-address': ['203.0.113.10'],
    });
    const bogus = edgeHeaders(
      ['x-forwarded-proto', 'gopher', 'x-forwarded-for', '192.0.2.5'],
      edge(1),
      'http',
      () => 'id',
    );
    assert.deepEqual(asObject(bogus)['x-forwarded-proto'], ['http'], 'only http or https is believed');
    assert.deepEqual(
      asObject(edgeHeaders(['x-forwarded-for', '192.0.2.5'], edge(0, true), 'http', () => 'id'))['x-request-id'],
      ['id'],
      'none sent: one is generated',
    );
  },
);
