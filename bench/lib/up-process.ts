// `gatehouse up` as a process of its own, for `npm run soak` and `npm run bench:idle`: one service
// (the example app, min-scale 1) in a temporary file, every port free on loopback, stderr piped.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { serviceYaml } from '../../src/bench/services.js';
import { portToBindLater } from '../../test/support/ports.js';
import { exampleAppPath } from '../../test/support/app.js';
import { gatehouseBin } from '../../test/support/queue.js';

export interface UpProcess {
  child: ChildProcess & { stderr: NodeJS.ReadableStream; pid: number };
  gatewayPort: number;
  xdsPort: number;
  /** SIGTERM (SIGKILL after 15 s), then the temporary directory removed. */
  stop(): Promise<void>;
}

export async function startUpProcess(o: {
  /** The service's name and the app's TARGET. */
  service: string;
  /** Another checkout's bin/gatehouse.js; this one's by default. */
  bin?: string;
  nodeFlags?: readonly string[];
  env?: Record<string, string>;
}): Promise<UpProcess> {
  const dir = mkdtempSync(path.join(tmpdir(), `gatehouse-${o.service}-`));
  const file = path.join(dir, 'services.yaml');
  writeFileSync(
    file,
    serviceYaml(o.service, {
      target: o.service,
      appPath: exampleAppPath,
      annotations: { 'autoscaling.knative.dev/min-scale': '1' },
    }),
  );
  const ports = {
    gateway: await portToBindLater(),
    local: await portToBindLater(),
    xds: await portToBindLater(),
    admin: await portToBindLater(),
  };
  const args = [
    ...(o.nodeFlags ?? []),
    o.bin ?? gatehouseBin,
    'up',
    '-f',
    file,
    ...['--gateway-port', String(ports.gateway), '--local-gateway-port', String(ports.local)],
    ...['--xds-port', String(ports.xds), '--admin-port', String(ports.admin), '--drain-quiet-seconds', '1'],
  ];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn', ...o.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  }) as UpProcess['child'];
  const exited = once(child, 'exit');
  return {
    child,
    gatewayPort: ports.gateway,
    xdsPort: ports.xds,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
