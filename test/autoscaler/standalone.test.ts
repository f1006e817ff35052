import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { loadRevisionsFile } from '../../src/autoscaler/revisions-file.js';
import { until } from '../support/cli.js';
import { gatehouseBin } from '../support/queue.js';

test('the revisions file reports every problem with file and field', () => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'gatehouse-')), 'bad.yaml');
  writeFileSync(file, 'revisions:\n  - name: Hello_1\n    containerConcurrency: -2\n    container: {}\n');
  assert.throws(
    () => loadRevisionsFile(file),
    (err: Error) =>
      err.message.includes(`${file}: revisions[0].name: expected a Kubernetes name`) &&
      err.message.includes(`${file}: revisions[0].container.command: expected the command`) &&
      err.message.includes(`${file}: revisions[0].containerConcurrency: expected a whole number, 0 or more, got -2`),
  );
});

test('gatehouse autoscaler runs the example revision and serves per-revision metrics', async (t) => {
  const child = spawn(
    process.execPath,
    [
      gatehouseBin,
      'autoscaler',
      '-f',
      'examples/revisions.yaml',
      '--stats-port',
      '0',
      '--metrics-port',
      '0',
      '--tick-ms',
      '200',
      '--drain-quiet-seconds',
      '0.2',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  t.after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });
  const metricsPort = await new Promise<number>((resolve) =>
    createInterface({ input: child.stderr }).on('line', (line) => {
      const r = JSON.parse(line) as { msg?: string; metricsPort?: number };
      if (r.msg === 'autoscaler listening') resolve(r.metricsPort!);
    }),
  );
  let text = '';
  // A pod boots at a lower priority than the data plane: on a busy machine that can take a while.
  await until(
    async () => {
      text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      return text.includes('autoscaler_actual_pods{revision="default/hello-00001"} 1');
    },
    'the example revision to have one ready pod',
    60_000,
  );
  assert.match(text, /autoscaler_actual_pods\{revision="default\/hello-00001"\} 1/);
  assert.match(text, /autoscaler_desired_pods\{revision="default\/hello-00001"\} 1/);
  assert.match(text, /autoscaler_proxy_mode\{revision="default\/hello-00001"\} 1/);
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0, 'stops its pods and exits cleanly');
});
