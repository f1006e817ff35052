// A first run on a terminal: readable log lines, a live progress line while starting, and the time
// to Ready counted from launch. Runs `gatehouse up` in a pseudo-terminal made by util-linux `script`.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loopbackUpArgs, serviceYaml } from '../../src/bench/services.js';
import { exampleAppPath } from '../support/app.js';
import { gatehouseBin } from '../support/queue.js';

const hasScript = spawnSync('script', ['--version']).status === 0;

test(
  'up on a terminal: text logs, a progress line, Ready in N s since launch',
  { skip: !hasScript && 'util-linux `script` is not installed' },
  async (t) => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'gatehouse-tty-')), 'services.yaml');
    writeFileSync(file, serviceYaml('hello', { target: 'tty', appPath: exampleAppPath }));
    const command = [process.execPath, gatehouseBin, ...loopbackUpArgs(file)].map((a) => `'${a}'`).join(' ');
    const launched = Date.now();
    // `exec`: script runs the command through $SHELL -c, and dash (CI's /bin/sh) stays in between and
    // dies of the Ctrl-C itself, which script reports as 130 whatever gatehouse does.
    const child = spawn('script', ['-qfec', `exec ${command}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
    t.after(() => child.kill('SIGKILL'));
    let out = '';
    const ready = await new Promise<number>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
      child.stdout.on('data', (d) => {
        out += d;
        const m = /Ready in (\d+\.\d) s\./.exec(out);
        if (m) resolve(Number(m[1]) * 1000);
      });
    });
    const elapsed = Date.now() - launched;
    assert.ok(
      ready <= elapsed + 100 && ready >= elapsed - 2000,
      `Ready in ${ready} ms counts from launch (${elapsed} ms since spawn)`,
    );
    assert.match(out, /\r\x1b\[Kstarting: \d\/1 routes Ready, \d\/\d pods · \d+\.\d s/, 'a live progress line');
    assert.match(out, /\d\d:\d\d:\d\d\.\d{3}\S* \S*INFO \S* up {8}xDS server listening/, 'readable log lines');
    assert.doesNotMatch(out, /\{"ts":/, 'no JSON on a terminal');
    const stopped = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.stdin.write('\x03'); // Ctrl-C through the terminal
    assert.equal(await stopped, 0);
  },
);
