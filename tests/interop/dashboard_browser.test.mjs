// The dashboard at GET / in headless Chromium: self-contained (every request goes to
// the server itself), live over EventSource('/sse'), publishes through its form.
// LASTMILE_SCREENSHOT=/path.png saves a screenshot of the page at the end.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser } from './browser.mjs';
import { startServer, waitFor, sleep } from './server.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser({ viewport: { width: 1360, height: 900 } });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

test('dashboard: self-contained page, live event list, publish form, placeholders', async () => {
  const { page } = browser;
  const foreign = [];
  const problems = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(server.url + '/')) foreign.push(r.url());
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });

  const res = await page.goto(`${server.url}/`);
  assert.equal(res.status(), 200, 'GET / serves the dashboard');
  assert.match(res.headers()['content-type'] ?? '', /^text\/html/);
  await page.waitForFunction(() => document.getElementById('status').textContent === 'live', null, { timeout: 15_000 });

  // Events published elsewhere show up, newest first.
  const ids = [];
  for (let n = 0; n < 12; n++) {
    ids.push(await server.publish(n % 2 ? 'orders' : 'payments', 'created', { n, note: 'from REST' }));
    await sleep(40);
  }
  await waitFor(() => page.evaluate(() => document.querySelectorAll('#event-rows tr').length >= 12), {
    what: 'twelve rows in the event list',
  });
  const firstId = await page.textContent('#event-rows tr:first-child td.id');
  assert.equal(firstId, ids.at(-1), 'the newest event is on top');
  // Every topic and type is visible (the page reads /sse?format=json).
  const topRow = await page.evaluate(() => [...document.querySelector('#event-rows tr:first-child').cells].map((c) => c.textContent));
  assert.equal(topRow[2], 'orders');
  assert.equal(topRow[3], 'created');
  assert.equal(topRow[4], '{"n":11,"note":"from REST"}');

  // The publish form: its event comes back over the stream with its topic and type.
  await page.fill('#pub-topic', 'orders.eu');
  await page.fill('#pub-type', 'shipped');
  await page.fill('#pub-payload', '{"order": 7, "carrier": "post"}');
  await page.click('#publish-form button[type=submit]');
  await page.waitForFunction(() => /^201 id /.test(document.getElementById('pub-result').textContent));
  const published = (await page.textContent('#pub-result')).replace('201 id ', '');
  await page.waitForFunction(
    (id) => [...document.querySelectorAll('#event-rows td.id')].some((td) => td.textContent === id),
    published,
    { timeout: 10_000 },
  );
  const row = await page.evaluate((id) => {
    const td = [...document.querySelectorAll('#event-rows td.id')].find((t) => t.textContent === id);
    return [...td.parentElement.cells].map((c) => c.textContent);
  }, published);
  assert.equal(row[2], 'orders.eu');
  assert.equal(row[3], 'shipped');
  assert.equal(row[4], '{"order":7,"carrier":"post"}');  // data arrives as JSON

  assert.equal(await page.textContent('#stat-last-id'), published);
  assert.ok(await page.$('section#ws-panel'), 'WebSocket placeholder');
  assert.ok(await page.$('section#poll-panel'), 'long-polling placeholder');

  await sleep(2200);  // two chart ticks
  const chartInk = await page.evaluate(() => {
    const c = document.getElementById('rate-chart');
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i]) n++;
    return n;
  });
  assert.ok(chartInk > 0, 'the chart is drawn');

  if (process.env.LASTMILE_SCREENSHOT) {
    await page.screenshot({ path: process.env.LASTMILE_SCREENSHOT, fullPage: true });
  }
  assert.deepEqual(foreign, [], 'no request leaves the server (no CDN, no external resource)');
  assert.deepEqual(problems, []);
});
