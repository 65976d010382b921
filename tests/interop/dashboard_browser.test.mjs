// The dashboard at GET / in headless Chromium: self-contained (every request goes to
// the server itself), live over EventSource('/sse'), publishes through its form; its
// WebSocket panel subscribes to a topic chosen in the page and publishes over the
// socket, its long-polling panel follows every topic over /poll.
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
  // The WebSocket panel subscribes to its default topic on open; add `orders.*`
  // through its form. The long-polling panel starts on its own (every topic).
  await page.waitForFunction(() => document.getElementById('ws-subs').textContent === 'orders', null, { timeout: 15_000 });
  assert.equal(await page.textContent('#ws-status'), 'open');
  await page.fill('#ws-topic', 'orders.*');
  await page.click('#ws-sub-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('ws-subs').textContent === 'orders, orders.*', null, { timeout: 10_000 });
  await page.waitForFunction(() => document.getElementById('poll-status').textContent === 'polling', null, { timeout: 15_000 });
  const feedIds = (list) => page.evaluate((id) => [...document.querySelectorAll(`#${id} li[data-id]`)].map((li) => li.dataset.id), list);

  // Events published elsewhere show up, newest first.
  const ids = [];
  for (let n = 0; n < 12; n++) {
    ids.push(await server.publish(n % 2 ? 'orders' : 'payments', 'created', { n, note: 'from REST' }));
    await sleep(40);
  }
  await waitFor(() => page.evaluate(() => document.querySelectorAll('#event-rows tr').length >= 12), {
    what: 'twelve rows in the event list',
  });
  // The WebSocket panel got the `orders` events (and nothing else), newest first; the
  // long-polling panel got all of them.
  const ordersIds = ids.filter((_, n) => n % 2);
  await waitFor(async () => (await feedIds('ws-rows')).length >= 6 && (await feedIds('poll-rows')).length >= 12, {
    what: async () => `the panels' events (ws ${(await feedIds('ws-rows')).length}, poll ${(await feedIds('poll-rows')).length})`,
  });
  await sleep(200);
  assert.deepEqual(await feedIds('ws-rows'), [...ordersIds].reverse(), 'WebSocket panel: the orders events, once each');
  assert.deepEqual(await feedIds('poll-rows'), [...ids].reverse(), 'long-polling panel: every event, once each');
  assert.match(await page.textContent('#poll-cursor'), /^[0-9a-f]+-\d+$/);
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
  // The event published on `orders.eu` reaches the WebSocket panel (via `orders.*`)
  // and the long-polling panel.
  await waitFor(async () => (await feedIds('ws-rows')).includes(published) && (await feedIds('poll-rows')).includes(published), {
    what: 'the form-published event in the WebSocket and long-polling panels',
  });
  const wsRow = await page.evaluate((id) => [...document.querySelector(`#ws-rows li[data-id="${id}"]`).children].map((c) => c.textContent), published);
  assert.deepEqual(wsRow, [published, 'orders.eu', 'shipped', '{"order":7,"carrier":"post"}']);

  // Publishing over the WebSocket: the `published` reply names the id; the event
  // comes back on the socket, over long polling and in the SSE list.
  await page.fill('#ws-pub-topic', 'orders.ws');
  await page.fill('#ws-pub-type', 'note');
  await page.fill('#ws-pub-payload', '{"via": "socket"}');
  await page.click('#ws-pub-form button[type=submit]');
  await page.waitForFunction(() => /^published /.test(document.getElementById('ws-pub-result').textContent), null, { timeout: 10_000 });
  const wsPublished = (await page.textContent('#ws-pub-result')).replace('published ', '');
  await waitFor(async () => (await feedIds('ws-rows'))[0] === wsPublished && (await feedIds('poll-rows'))[0] === wsPublished &&
    (await page.textContent('#event-rows tr:first-child td.id')) === wsPublished, {
    what: 'the WebSocket-published event in all three lists',
  });
  const polled = await page.evaluate(() => [...document.querySelector('#poll-rows li').children].map((c) => c.textContent));
  assert.deepEqual(polled, [wsPublished, 'orders.ws', 'note', '{"via":"socket"}']);
  const rest = await (await fetch(`${server.url}/topics/orders.ws/events?after=earliest`)).json();
  assert.deepEqual(rest.events.map((e) => e.id), [wsPublished], 'the socket publish is in the log');

  // Unsubscribing stops the WebSocket panel's events; long polling still gets them.
  await page.fill('#ws-topic', 'orders.*');
  await page.click('#ws-unsubscribe');
  await page.waitForFunction(() => document.getElementById('ws-subs').dataset.acked === 'orders', null, { timeout: 10_000 });
  const quiet = await server.publish('orders.eu', 'after-unsubscribe', { n: 1 });
  await waitFor(async () => (await feedIds('poll-rows'))[0] === quiet, { what: 'the next polled event' });
  await sleep(300);
  assert.notEqual((await feedIds('ws-rows'))[0], quiet, 'no event after unsubscribing');

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
