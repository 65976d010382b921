// SSE against a real browser EventSource: headless Debian Chromium (playwright-core).
// The stream goes through a TCP proxy that cuts every connection mid-stream; Chromium
// must reconnect with Last-Event-ID and end up with every event exactly once. Once
// with the page on the stream's origin, once from another origin (CORS, no
// allow-list: the server answers Access-Control-Allow-Origin: *).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser } from './browser.mjs';
import { startProxy, startServer, waitFor, sleep } from './server.mjs';

let server;
let browser;

before(async () => {
  server = await startServer(['--heartbeat', '1']);
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

// The page is loaded from `pageBase` (its /healthz) and opens EventSource(streamUrl(proxy)).
async function dropAndReconnect({ pageBase, streamUrl, crossOrigin }) {
  const proxy = await startProxy(server.port);
  const page = await browser.context.newPage();
  let cut = false;
  try {
    // Called by the page when its 10th event arrives: cut while publishing goes on.
    await page.exposeFunction('lastmileCut', () => {
      if (!cut) {
        cut = true;
        proxy.cutAll();
      }
    });
    const res = await page.goto(`${pageBase(proxy)}/healthz`);
    assert.equal(res.status(), 200);
    await page.evaluate((path) => {
      window.received = [];
      window.others = [];
      window.opens = 0;
      window.lastIdAtReopen = null;
      const es = new EventSource(path);
      window.es = es;
      es.addEventListener('open', () => {
        window.opens++;
        if (window.opens === 2) window.lastIdAtReopen = window.received.at(-1)?.id ?? null;
      });
      es.addEventListener('created', (e) => {
        window.received.push({ id: e.lastEventId, data: e.data });
        if (window.received.length === 10) window.lastmileCut();
      });
      for (const type of ['message', 'reset', 'paid']) {
        es.addEventListener(type, (e) => window.others.push({ type, id: e.lastEventId, data: e.data }));
      }
    }, streamUrl(proxy));
    await waitFor(() => page.evaluate(() => window.opens >= 1), { what: 'the stream to open', intervalMs: 50 });

    const ids = [];
    for (let n = 0; n < 50; n++) {
      ids.push(await server.publish('orders', 'created', { n }));
      if (n % 5 === 0) await server.publish('payments', 'paid', { n });
      await sleep(10);
    }

    await waitFor(() => page.evaluate(() => window.received.length >= 50), {
      timeoutMs: 30_000, intervalMs: 100, what: () => page.evaluate(() => `all 50 events in the page (got ${window.received.length}, opens ${window.opens})`),
    });
    await sleep(300);
    const got = await page.evaluate(() => ({
      received: window.received, others: window.others, opens: window.opens,
      lastIdAtReopen: window.lastIdAtReopen, readyState: window.es.readyState,
    }));
    await page.evaluate(() => window.es.close());

    assert.ok(cut, 'the proxy cut the stream');
    assert.ok(got.opens >= 2, `the page reconnected (opens: ${got.opens})`);
    assert.deepEqual(got.others, [], 'no other event type or topic arrived');
    assert.equal(got.received.length, 50, 'every event exactly once');
    assert.deepEqual(got.received.map((r) => r.id), ids, 'ids are the published ids, in order');
    assert.deepEqual(got.received.map((r) => JSON.parse(r.data).n), [...Array(50).keys()]);

    const sse = proxy.requests().filter((r) => r.method === 'GET' && r.target.startsWith('/topics/orders/sse'));
    assert.ok(sse.length >= 2, `a second SSE request went through the proxy (${sse.length})`);
    assert.equal(sse[0].headers['last-event-id'], undefined);
    assert.equal(sse[0].headers['accept'], 'text/event-stream');
    if (crossOrigin) assert.equal(sse[1].headers['origin'], server.url, 'a cross-origin request');
    assert.ok(got.lastIdAtReopen, 'events had arrived before the reconnect');
    assert.equal(sse[1].headers['last-event-id'], got.lastIdAtReopen,
      'Chromium sent the id of the last event it received');
  } finally {
    await page.close();
    await proxy.close();
  }
}

test('Chromium EventSource (same origin): drop mid-stream, reconnect with Last-Event-ID, every event exactly once',
  () => dropAndReconnect({ pageBase: (proxy) => proxy.url, streamUrl: () => '/topics/orders/sse' }));

test('Chromium EventSource (cross origin, CORS): drop mid-stream, reconnect with Last-Event-ID, exactly once',
  () => dropAndReconnect({
    pageBase: () => server.url,
    streamUrl: (proxy) => `${proxy.url}/topics/orders/sse`,
    crossOrigin: true,
  }));
