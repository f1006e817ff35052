// deploy/: the Envoy bootstrap in its ConfigMap is a valid Envoy Bootstrap, and every flag the
// controller Deployment passes is one `gatehouse controller` knows. (`kubectl apply
// --dry-run=server -f deploy/` against the real kube-apiserver is in the README.)
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Command } from 'commander';
import { parse, parseAllDocuments } from 'yaml';
import { register } from '../../src/cli/controller.js';
import { validateResource } from '../../src/envoy/validate.js';
import { protoDurations } from '../support/envoy-yaml.js';
import { packagePath } from '../../src/package-root.js';
import { pathToFileURL } from 'node:url';

const dir = pathToFileURL(packagePath('deploy') + '/');
const docs = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) =>
    parseAllDocuments(readFileSync(new URL(f, dir), 'utf8')).map((d) => d.toJSON() as Record<string, any>),
  );
const find = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata?.name === name);

test('deploy: the Envoy bootstrap ConfigMap holds a Bootstrap Envoy accepts', () => {
  const bootstrap = protoDurations(
    parse(find('ConfigMap', 'gatehouse-envoy-bootstrap')!.data['bootstrap.yaml']),
  ) as Record<string, any>;
  assert.deepEqual(validateResource('type.googleapis.com/envoy.config.bootstrap.v3.Bootstrap', bootstrap), {
    valid: true,
    errors: [],
  });
  assert.equal(
    bootstrap.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
      .port_value,
    18000,
  );
});

test(
  'deploy: the controller Deployment passes only flags `gatehouse ' +
    'controller` knows, and its ports match the Services',
  () => {
    const program = new Command().exitOverride();
    register(program);
    const command = program.commands.find((c) => c.name() === 'controller')!;
    const known = new Set(command.options.map((o) => o.long));
    const args = find('Deployment', 'gatehouse-controller')!.spec.template.spec.containers[0].args as string[];
    assert.equal(args[0], 'controller');
    for (const a of args.slice(1)) assert.ok(known.has(a.split('=')[0]), `${a} is not a gatehouse controller flag`);
    const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))!.split('=')[1];
    assert.equal(find('Service', 'gatehouse')!.spec.ports[0].targetPort, Number(flag('external-port')));
    assert.equal(find('Service', 'gatehouse-internal')!.spec.ports[0].targetPort, Number(flag('local-port')));
    const https = (
      find('Service', 'gatehouse')!.spec.ports as Array<{ name: string; port: number; targetPort: number }>
    ).find((p) => p.name === 'https')!;
    assert.deepEqual([https.port, https.targetPort], [443, Number(flag('https-port'))]);
    const envoyPorts = find('Deployment', 'gatehouse-envoy')!.spec.template.spec.containers[0].ports as Array<{
      containerPort: number;
    }>;
    assert.ok(envoyPorts.some((p) => p.containerPort === Number(flag('https-port'))));
    assert.equal(flag('gateway-service'), 'gatehouse-system/gatehouse');
    assert.equal(
      find('ConfigMap', 'config-network')!.data['ingress-class'],
      'gatehouse.ingress.networking.knative.dev',
    );
  },
);

test('deploy: the controller may list and watch Secrets (spec.tls) but never get or write one', () => {
  const rules = find('ClusterRole', 'gatehouse-controller')!.rules as Array<{
    apiGroups: string[];
    resources: string[];
    verbs: string[];
  }>;
  const secrets = rules.filter((r) => r.apiGroups.includes('') && r.resources.includes('secrets'));
  assert.deepEqual(
    secrets.map((r) => r.verbs),
    [['list', 'watch']],
  );
});
