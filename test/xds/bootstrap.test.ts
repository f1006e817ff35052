import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { validateResource } from '../../src/xds/index.js';
import { protoDurations } from '../support/envoy-yaml.js';

test('envoy/bootstrap.yaml is a valid Bootstrap that points ADS at the xDS server', () => {
  const bootstrap = protoDurations(parse(readFileSync('envoy/bootstrap.yaml', 'utf8'))) as Record<string, any>;
  assert.deepEqual(validateResource('type.googleapis.com/envoy.config.bootstrap.v3.Bootstrap', bootstrap), { valid: true, errors: [] });
  assert.equal(bootstrap.dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name, 'gatehouse-xds');
  const xds = bootstrap.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
  assert.deepEqual(xds, { address: '127.0.0.1', port_value: 18000 });
  assert.equal(bootstrap.admin.address.socket_address.address, '127.0.0.1');
});
