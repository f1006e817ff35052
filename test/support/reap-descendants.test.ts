// The suite's reaper finds every process a test started, grandchildren included.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { until } from './cli.js';
import { descendants } from './reap-descendants.js';

test(
  'descendants: children and their children, none of anyone else',
  { skip: process.platform !== 'linux' },
  async () => {
    const shell = spawn('sh', ['-c', 'sleep 30 & sleep 31; wait'], { stdio: 'ignore' });
    try {
      // (tsx may run an esbuild service as a child of this process too.)
      await until(() => descendants(shell.pid!).length === 2, 'the two sleeps under sh');
      const found = descendants(process.pid);
      const shellAt = found.indexOf(shell.pid!);
      assert.ok(shellAt >= 0, `sh ${shell.pid} among ${found.join(', ')}`);
      for (const sleep of descendants(shell.pid!)) assert.ok(found.indexOf(sleep) > shellAt, 'parents before children');
      assert.ok(!found.includes(process.ppid) && !found.includes(process.pid));
    } finally {
      for (const pid of descendants(process.pid).reverse()) process.kill(pid, 'SIGKILL');
    }
  },
);
