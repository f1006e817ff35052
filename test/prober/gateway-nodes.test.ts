// Which xDS nodes the prober waits on, case by case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gatewayVerdict, type ConnectedNode, type GatewayPolicy } from '../../src/prober/gateway-nodes.js';

const ingress = (id: string, connectedStreams = 1): ConnectedNode => ({
  id,
  cluster: 'gatehouse-ingress',
  connectedStreams,
});
const policy = (mutualTls: boolean, named: string[] = []): GatewayPolicy => ({
  mutualTls,
  named: new Set(named),
  embeddedId: 'gatehouse-gateway',
});

test(
  'gateway verdicts: named nodes or, unnamed, mutual TLS; never ' +
    'the embedded gateway, other roles or disconnected nodes',
  () => {
    const cases: Array<[string, ConnectedNode, GatewayPolicy, string]> = [
      ['plaintext, unnamed Envoy: served, not waited on', ingress('envoy-1'), policy(false), 'unnamed'],
      ['plaintext, named Envoy', ingress('envoy-1'), policy(false, ['envoy-1']), 'counted'],
      ['plaintext, a process claiming another name', ingress('evil'), policy(false, ['envoy-1']), 'unnamed'],
      ['mutual TLS, unnamed: the certificate vouches', ingress('envoy-1'), policy(true), 'counted'],
      ['mutual TLS with names: only those', ingress('envoy-2'), policy(true, ['envoy-1']), 'unnamed'],
      ['the embedded gateway is probed directly', ingress('gatehouse-gateway'), policy(true), 'not-a-gateway'],
      [
        'a claim to be the embedded gateway adds nothing',
        ingress('gatehouse-gateway'),
        policy(false, ['gatehouse-gateway']),
        'not-a-gateway',
      ],
      [
        'an activator',
        { id: 'activator-0', cluster: 'gatehouse-activators', connectedStreams: 1 },
        policy(true),
        'not-a-gateway',
      ],
      [
        'a proxyless client',
        { id: 'grpc', cluster: 'tests', connectedStreams: 1 },
        policy(true, ['grpc']),
        'not-a-gateway',
      ],
      ['a named gateway that disconnected', ingress('envoy-1', 0), policy(false, ['envoy-1']), 'not-a-gateway'],
    ];
    for (const [name, node, p, verdict] of cases) assert.equal(gatewayVerdict(node, p), verdict, name);
  },
);
