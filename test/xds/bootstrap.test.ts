import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { validateResource } from '../../src/envoy/validate.js';
import { protoDurations } from '../support/envoy-yaml.js';

test('envoy/bootstrap.yaml is a valid Bootstrap that points ADS at the xDS server', () => {
  const bootstrap = protoDurations(parse(readFileSync('envoy/bootstrap.yaml', 'utf8'))) as Record<string, any>;
  assert.deepEqual(validateResource('type.googleapis.com/envoy.config.bootstrap.v3.Bootstrap', bootstrap), {
    valid: true,
    errors: [],
  });
  assert.equal(bootstrap.dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name, 'gatehouse-xds');
  const xds =
    bootstrap.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
  assert.deepEqual(xds, { address: '127.0.0.1', port_value: 18000 });
  assert.equal(bootstrap.admin.address.socket_address.address, '127.0.0.1');
});

test('envoy/bootstrap.yaml: the commented TLS transport socket for the xDS cluster is valid once uncommented', () => {
  const lines = readFileSync('envoy/bootstrap.yaml', 'utf8').split('\n');
  const start = lines.findIndex((l) => l.trim() === '# transport_socket:');
  assert.ok(start > 0, 'the bootstrap carries a commented transport_socket');
  const indent = lines[start]!.indexOf('#');
  let end = start;
  while (lines[end + 1]?.slice(indent).startsWith('#   ')) end++;
  for (let i = start; i <= end; i++) lines[i] = lines[i]!.slice(0, indent) + lines[i]!.slice(indent + 2);
  const bootstrap = protoDurations(parse(lines.join('\n'))) as Record<string, any>;
  const socket = bootstrap.static_resources.clusters[0].transport_socket;
  assert.equal(
    socket.typed_config['@type'],
    'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  );
  assert.equal(socket.typed_config.common_tls_context.tls_certificates.length, 1);
  assert.deepEqual(validateResource('type.googleapis.com/envoy.config.bootstrap.v3.Bootstrap', bootstrap), {
    valid: true,
    errors: [],
  });
});
