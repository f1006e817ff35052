// Knative Service documents and `gatehouse up` options for generated runs (benchmarks, tests):
// one place that knows the YAML shape and the loopback, ephemeral-port set-up.
import type { Logger } from '../log/logger.js';
import type { UpOptions } from '../up/orchestrator.js';

export interface GeneratedService {
  /** The example app's TARGET: what it answers ("Hello <target>!"). */
  target: string;
  /** The app to run (node <appPath>). */
  appPath: string;
  annotations?: Record<string, string>;
  containerConcurrency?: number;
  /** YAML appended under `spec:` (e.g. a traffic block), indented by two spaces. */
  extraSpec?: string;
  /** HTTP/2 cleartext end to end (`ports: [{name: h2c}]`), for gRPC. */
  h2c?: boolean;
  /** More environment for the app (e.g. STARTUP_DELAY_MS). */
  env?: Record<string, string>;
}

export function serviceYaml(name: string, s: GeneratedService): string {
  const annotations = Object.entries(s.annotations ?? {})
    .map(([k, v]) => `        ${k}: "${v}"`)
    .join('\n');
  return `---
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: ${name}
spec:
  template:
    metadata:
      annotations:
${annotations || '        {}'}
    spec:
      containerConcurrency: ${s.containerConcurrency ?? 0}
      containers:
        - command: [node, ${JSON.stringify(s.appPath)}]
          env:
            - name: TARGET
              value: ${s.target}
${Object.entries(s.env ?? {})
  .map(([k, v]) => `            - name: ${k}\n              value: "${v}"\n`)
  .join('')}${s.h2c ? '          ports:\n            - name: h2c\n' : ''}${s.extraSpec ?? ''}`;
}

/** `gatehouse up`'s arguments for the same as a process: every port chosen by the system, short drains. */
export function loopbackUpArgs(file: string, ...extra: string[]): string[] {
  const free = ['--gateway-port', '--local-gateway-port', '--xds-port', '--admin-port'].flatMap((f) => [f, '0']);
  return ['up', '-f', file, ...free, '--drain-quiet-seconds', '1', ...extra];
}

/** Everything on free loopback ports with the embedded gateway; short drains for quick runs. */
export function loopbackUpOptions(file: string, log: Logger, overrides: Partial<UpOptions> = {}): UpOptions {
  return {
    file,
    gatewayPort: 0,
    localGatewayPort: 0,
    xdsPort: 0,
    adminPort: 0,
    domain: 'example.com',
    embeddedGateway: true,
    drainQuietSeconds: 1,
    tickMs: 500,
    autoscaler: { allowZeroInitialScale: true },
    log,
    ...overrides,
  };
}
