import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startExampleApp } from './support/app.js';

test('example app answers HTTP/1.1 with the configured body size and status', async (t) => {
  const app = await startExampleApp({ K_REVISION: 'hello-00001' });
  t.after(() => app.stop());
  const greeting = await fetch(`http://127.0.0.1:${app.port}/`);
  assert.equal(greeting.status, 200);
  assert.equal(await greeting.text(), 'Hello hello-00001!\n');
  const sized = await fetch(`http://127.0.0.1:${app.port}/?size=1000&status=201`);
  assert.equal(sized.status, 201);
  assert.equal((await sized.arrayBuffer()).byteLength, 1000);
});
