// The seed article's long-polling client, run unchanged in Node against
// lastmile-server's /api/events. The article's code is pasted verbatim below; the
// test supplies what a page would: a fetch that resolves relative URLs against the
// server (through a proxy that can drop connections) and a processEvent function.
// The connection is cut mid-stream once; the client's retry (after 5 s) resumes from
// its cursor, and every event must arrive exactly once, in order.
// The second test restarts the server itself, on a durable SQLite log: the client's
// cursor from the old process must resume on the new one.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { after, before, test } from 'node:test';
import { startProxy, startServer, waitFor, sleep } from './server.mjs';

const nodeFetch = globalThis.fetch;  // the tests below replace the global one
let server, proxy;
before(async () => {
  server = await startServer();
  proxy = await startProxy(server.port);
});
after(async () => {
  if (proxy) await proxy.close?.();
  if (server) await server.stop();
});

test('the article longPoll client receives every event exactly once across a dropped connection', { timeout: 60_000 }, async () => {
  const received = [];
  const nativeFetch = globalThis.fetch;
  // Relative URLs (the article's) go to the server through the proxy; absolute ones
  // (this test's publishes) go where they say.
  globalThis.fetch = (url, opts) =>
    nativeFetch(String(url).startsWith('/') ? `http://127.0.0.1:${proxy.port}${url}` : url, opts);
  globalThis.processEvent = (event) => received.push(event);

  // ---- from the article, unchanged ----
  // Client-side long polling
  async function longPoll(cursor) {
    try {
      const response = await fetch(`/api/events?cursor=${cursor}&timeout=30`);
      const data = await response.json();

      for (const event of data.events) {
        processEvent(event);
      }

      // Immediately poll again with the new cursor
      longPoll(data.nextCursor);
    } catch (error) {
      // Retry with backoff
      setTimeout(() => longPoll(cursor), 5000);
    }
  }

  longPoll('latest');
  // ---- end of the article's code ----

  await sleep(300);  // the first poll is held at the head
  const ids = [];
  for (let i = 0; i < 40; i++) {
    ids.push(await server.publish(i % 3 ? 'orders' : 'payments', 'created', { i }));
    if (i === 20) proxy.cutAll();  // drop the held poll's connection mid-stream
    await sleep(15);
  }
  await waitFor(() => received.length >= ids.length, { timeoutMs: 30_000, what: 'every event' });
  await sleep(300);
  assert.deepEqual(received.map((e) => e.id), ids, 'every event exactly once, in order');
  assert.deepEqual(received.map((e) => e.data.i), [...Array(40).keys()]);
  // The client polls forever (as in the article): park its next poll so the process
  // can end once the server stops.
  globalThis.fetch = () => new Promise(() => {});
});

test('the article longPoll client receives every event exactly once across a server restart on a durable log', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lastmile-longpoll-'));
  const durable = await startServer(['--log', `sqlite:${path.join(dir, 'events.db')}`,
                                     '--webhook-store', 'memory']);
  // The article's code runs in a context of its own (the previous test's client still
  // polls through the global fetch): its `fetch` and `processEvent` are this test's.
  const received = [];
  let parked = false;
  const context = vm.createContext({
    fetch: (url, opts) => (parked ? new Promise(() => {}) : nodeFetch(`${durable.url}${url}`, opts)),
    processEvent: (event) => received.push(event),
    setTimeout,
  });
  try {
    vm.runInContext(`
      // ---- from the article, unchanged ----
      // Client-side long polling
      async function longPoll(cursor) {
        try {
          const response = await fetch(\`/api/events?cursor=\${cursor}&timeout=30\`);
          const data = await response.json();

          for (const event of data.events) {
            processEvent(event);
          }

          // Immediately poll again with the new cursor
          longPoll(data.nextCursor);
        } catch (error) {
          // Retry with backoff
          setTimeout(() => longPoll(cursor), 5000);
        }
      }

      longPoll('latest');
      // ---- end of the article's code ----
    `, context);

    await sleep(300);
    const ids = [];
    for (let i = 0; i < 20; i++) {
      ids.push(await durable.publish('orders', 'created', { i }));
      await sleep(10);
    }
    await waitFor(() => received.length >= 20, { timeoutMs: 20_000, what: 'the events before the restart' });
    // Stop the server under the held poll and start it again on the same database:
    // the client's next poll fails, it retries after 5 s with the cursor it last got.
    await durable.restart();
    for (let i = 20; i < 40; i++) {  // published while the client waits to retry
      ids.push(await durable.publish(i % 2 ? 'orders' : 'payments', 'created', { i }));
    }
    await waitFor(() => received.length >= ids.length, { timeoutMs: 30_000, what: 'every event after the restart' });
    await sleep(300);
    // A cursor the new process did not accept would have reset to the earliest event
    // and repeated the first twenty.
    assert.deepEqual(received.map((e) => e.id), ids, 'every event exactly once, in order, across the restart');
    assert.deepEqual(received.map((e) => e.data.i), [...Array(40).keys()]);
  } finally {
    parked = true;
    await durable.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
