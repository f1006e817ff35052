// App ports for local pods: outside the kernel's ephemeral range, handed out in turn, taken ones skipped.
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { AppPorts, appPortRange, canListen, ephemeralPortRange } from '../../src/runtime/ports.js';

test('the ephemeral range is read from its /proc text; unreadable or garbled is none', () => {
  assert.deepEqual(
    ephemeralPortRange(() => '32768\t60999\n'),
    { first: 32768, last: 60999 },
  );
  assert.equal(
    ephemeralPortRange(() => {
      throw new Error('ENOENT');
    }),
    undefined,
  );
  assert.equal(
    ephemeralPortRange(() => 'n/a'),
    undefined,
  );
});

test('app ports: up to 16,384 below the ephemeral range and the NodePorts, never privileged, none under 1,024', () => {
  assert.deepEqual(appPortRange({ first: 32768, last: 60999 }), { first: 13616, last: 29999 });
  assert.deepEqual(appPortRange({ first: 20000, last: 60999 }), { first: 3616, last: 19999 });
  assert.deepEqual(appPortRange({ first: 3000, last: 60999 }), { first: 1024, last: 2999 });
  assert.equal(appPortRange({ first: 2047, last: 60999 }), undefined);
  assert.equal(appPortRange({ first: 1024, last: 65535 }), undefined);
  assert.equal(appPortRange(undefined), undefined);
});

test('ports come in turn from a random start, wrapping, skipping taken ones; concurrent takes differ', async () => {
  const taken = new Set([102, 103]);
  const ports = new AppPorts(
    { first: 100, last: 104 },
    async (p) => !taken.has(p),
    () => 0.5,
  );
  // Start: floor(0.5 × 5) = 2 → port 102 (taken), 103 (taken), 104, then 100, 101, 104 again after the wrap.
  assert.deepEqual([await ports.take(), await ports.take(), await ports.take()], [104, 100, 101]);
  const together = await Promise.all([ports.take(), ports.take()]);
  assert.deepEqual(together, [104, 100]);
});

test('when the whole stretch is taken, the kernel picks instead', async () => {
  const ports = new AppPorts(
    { first: 100, last: 199 },
    async () => false,
    () => 0,
  );
  const port = await ports.take();
  assert.ok(port > 199, `got ${port}`);
});

test('a port in use on 127.0.0.1 or [::1] is not free; the default range keeps clear of port 0', async () => {
  for (const host of ['127.0.0.1', '::1']) {
    const holder = net.createServer();
    const listening = await new Promise<boolean>((resolve) => {
      holder.once('error', () => resolve(false)); // no IPv6 loopback here
      holder.listen(0, host, () => resolve(true));
    });
    if (!listening) continue;
    const held = (holder.address() as net.AddressInfo).port;
    try {
      assert.equal(await canListen(held), false, `${host}:${held} is taken`);
    } finally {
      holder.close();
    }
  }
  const range = appPortRange(ephemeralPortRange());
  if (!range) return; // no /proc here, or a widened ephemeral range: the kernel picks app ports
  const port = await new AppPorts().take();
  assert.ok(port >= range.first && port <= range.last, `app port ${port} outside ${range.first}-${range.last}`);
  // What the app-port bug was: a queue-proxy's port-0 listener landing on an app's port. Port 0 never lands here.
  const servers = await Promise.all(
    Array.from({ length: 200 }, async () => {
      const s = net.createServer().listen(0, '127.0.0.1');
      await once(s, 'listening');
      return s;
    }),
  );
  const picked = servers.map((s) => (s.address() as net.AddressInfo).port);
  for (const s of servers) s.close();
  assert.deepEqual(
    picked.filter((p) => p >= range.first && p <= range.last),
    [],
  );
});
