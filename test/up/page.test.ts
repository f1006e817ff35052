// The status page in a real browser: Debian's chromium, headless, driven by playwright-core,
// against a real `gatehouse up` running the bundled services. The page must show them, then
// reflect a configuration edit and the scale-out it causes without being reloaded.
// UPDATE_SCREENSHOTS=1 also writes docs/status-page.png.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { request } from 'undici';
import { loopbackUpOptions } from '../../src/bench/services.js';
import { createLogger } from '../../src/log/logger.js';
import { packagePath } from '../../src/package-root.js';
import { startUp } from '../../src/up/orchestrator.js';
import { exampleAppPath } from '../support/app.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

test(
  'the status page shows the bundled services and follows an edit and a scale-out live',
  {
    skip:
      !existsSync(CHROMIUM) &&
      `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does) to run this test`,
  },
  async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-page-'));
    const file = path.join(dir, 'services.yaml');
    // The bundled services, with the app's path made absolute for this folder.
    const bundled = readFileSync(packagePath('examples', 'services.yaml'), 'utf8').replaceAll(
      'app/server.mjs',
      exampleAppPath,
    );
    writeFileSync(file, bundled);
    const up = await startUp(loopbackUpOptions(file, createLogger('test'), { tickMs: 200 }));
    t.after(() => up.close());
    await up.whenReady(60_000);

    const profile = mkdtempSync(path.join(tmpdir(), 'gatehouse-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1280, height: 900 },
    });
    t.after(async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`http://127.0.0.1:${up.adminPort}/`);
    for (const name of ['hello', 'sleepy', 'grpc'])
      await page.locator(`[data-service="default/${name}"][data-ready="True"]`).waitFor({ timeout: 20_000 });
    await page.locator('#live:not(.off)').waitFor({ timeout: 10_000 });
    assert.match(await page.locator('[data-service="default/hello"]').innerText(), /100% hello-00001/);
    await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));

    // An edit: hello gets min-scale 2, so a new revision that scales out to two pods.
    writeFileSync(
      file,
      bundled.replace(
        'autoscaling.knative.dev/window: "10s"',
        'autoscaling.knative.dev/window: "10s"\n        autoscaling.knative.dev/min-scale: "2"',
      ),
    );
    await page.locator('[data-revision="default/hello-00002"]').waitFor({ timeout: 30_000 });
    await page.locator('[data-revision="default/hello-00002"][data-pods-ready="2"]').waitFor({ timeout: 60_000 });
    await page.locator('[data-scale-event="default/hello-00002"]').first().waitFor({ timeout: 10_000 });
    await page.locator('[data-service="default/hello"]').getByText('100% hello-00002').waitFor({ timeout: 30_000 });
    assert.match(await page.locator('#pod-starts').innerText(), /default\/hello-00002/);
    // Traffic: the page shows the revision's request rate and latency while requests flow.
    let sending = true;
    const client = (async () => {
      while (sending)
        await request(`http://127.0.0.1:${up.gatewayPort}/?delay=20`, {
          headers: { host: 'hello.default.example.com' },
        }).then((r) => r.body.text());
    })();
    await page.waitForFunction(
      () => {
        const row = document.querySelector('[data-revision="default/hello-00002"]');
        return (
          Number(row?.querySelector('.rps')?.textContent) > 0 &&
          /^\d+ ms$/.test(row?.querySelector('.latency')?.textContent ?? '')
        );
      },
      undefined,
      { timeout: 20_000 },
    );
    assert.equal(
      await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded),
      true,
      'the page was not reloaded',
    );

    // A bad edit shows up under "Needs attention" with its line and field.
    if (process.env.UPDATE_SCREENSHOTS === '1')
      await page.screenshot({ path: packagePath('docs', 'status-page.png'), fullPage: true });
    sending = false;
    await client;
    writeFileSync(file, bundled.replace('containerConcurrency: 10', 'containerConcurrency: -1'));
    await page
      .locator('#attention:not([hidden])')
      .getByText(/containerConcurrency: expected a whole number from 0 to 1000, got -1/)
      .waitFor({ timeout: 20_000 });
    assert.deepEqual(errors, [], 'no script errors on the page');
  },
);
