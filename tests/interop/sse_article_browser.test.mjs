// The seed article's browser SSE client, unchanged, in headless Chromium against
// lastmile-server's GET /events. The page is served through a TCP proxy that cuts
// the stream mid-way; the article's EventSource reconnects by itself with
// Last-Event-ID and its 'change' handler must log every event exactly once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser } from './browser.mjs';
import { startProxy, startServer, waitFor, sleep } from './server.mjs';

let server, browser;
before(async () => {
  server = await startServer(['--heartbeat', '1']);
  browser = await launchBrowser();
});
after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

// From the article ("Client Implementation (Browser)"), verbatim.
const articleClient = `
const eventSource = new EventSource('/events');

eventSource.addEventListener('change', (event) => {
  const data = JSON.parse(event.data);
  console.log(\`\${data.operation} on \${data.table}:\`, data.after);
});

// Automatic reconnection is built in
// The browser sends Last-Event-ID header on reconnect
eventSource.addEventListener('error', (event) => {
  console.log('Connection lost, reconnecting...');
  // EventSource auto-reconnects with exponential backoff
});
`;

test('the article EventSource client logs every change exactly once across a dropped stream', { timeout: 90_000 }, async () => {
  const proxy = await startProxy(server.port);
  const page = await browser.context.newPage();
  const logs = [];
  page.on('console', (msg) => logs.push(msg.text()));
  try {
    await page.goto(`${proxy.url}/healthz`);  // same origin as /events
    await page.addScriptTag({ content: articleClient });
    await waitFor(() => page.evaluate(() => eventSource.readyState === EventSource.OPEN), { what: 'the stream to open' });
    const changes = () => logs.filter((l) => l.includes(' on '));
    for (let n = 0; n < 30; n++) {
      await server.publish('cdc.orders', 'change', { operation: 'UPDATE', table: 'orders', after: { id: n } });
      if (n === 12) {
        await waitFor(() => changes().length >= 10, { what: 'some changes before the cut' });
        proxy.cutAll();
      }
      await sleep(10);
    }
    await waitFor(() => changes().length >= 30, { timeoutMs: 30_000, what: () => `30 changes (got ${changes().length})` });
    await sleep(300);
    assert.ok(logs.includes('Connection lost, reconnecting...'), 'the stream was cut and the client noticed');
    assert.deepEqual(changes(), [...Array(30).keys()].map((n) => `UPDATE on orders: {id: ${n}}`));
    const streams = proxy.requests().filter((r) => r.target === '/events');
    assert.ok(streams.length >= 2, 'the browser reconnected');
    assert.ok(streams[1].headers['last-event-id'], 'with Last-Event-ID');
  } finally {
    await page.close();
    await proxy.close();
  }
});
