// SSE against the npm `eventsource` client (WHATWG EventSource for Node), per the
// "Server-Sent Events" section of the wire contract. The client talks to the server
// through a TCP proxy that cuts every connection mid-stream; the client must
// reconnect with Last-Event-ID and end up with every event exactly once, in order.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { EventSource } from 'eventsource';
import { startProxy, startServer, waitFor, sleep } from './server.mjs';

const HEARTBEAT_SECONDS = 0.5;
let server;

before(async () => {
  server = await startServer(['--heartbeat', String(HEARTBEAT_SECONDS)]);
});

after(async () => {
  if (server) await server.stop();
});

// Opens a raw streaming GET and collects the body until `until(body)` or timeoutMs.
function rawGet(url, { headers = {}, until = () => false, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      const done = () => {
        clearTimeout(timer);
        req.destroy();
        resolve({ status: res.statusCode, headers: res.headers, body });
      };
      const timer = setTimeout(done, timeoutMs);
      res.on('data', (d) => {
        body += d;
        if (until(body)) done();
      });
      res.on('end', done);
      res.on('error', () => done());
    });
    req.on('error', reject);
  });
}

const afterPreamble = (body) => '\n' + body.replace(/^retry: \d+\n:[^\n]*\n/, '');

test('stream preamble: headers, retry and a comment first, then heartbeats', async () => {
  const r = await rawGet(`${server.url}/topics/orders/sse`, {
    until: (b) => /\n: ping\n/.test(afterPreamble(b)),
    timeoutMs: HEARTBEAT_SECONDS * 1000 * 6,
  });
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'] ?? '', /^text\/event-stream\b/);
  assert.equal(r.headers['cache-control'], 'no-cache');
  assert.equal(r.headers['x-accel-buffering'], 'no');
  assert.match(r.body, /^retry: \d+\n:[^\n]*\n/, `stream must start with retry: and a comment, got ${JSON.stringify(r.body.slice(0, 200))}`);
  assert.match(afterPreamble(r.body), /\n: ping\n/, `expected a ': ping' heartbeat within ${HEARTBEAT_SECONDS * 6} s`);
});

test('a malformed Last-Event-ID is 400 bad_cursor', async () => {
  for (const [url, headers] of [
    [`${server.url}/topics/orders/sse`, { 'Last-Event-ID': 'not a cursor!' }],
    [`${server.url}/sse?topic=orders&last_event_id=${encodeURIComponent('not a cursor!')}`, {}],
  ]) {
    const r = await rawGet(url, { headers, timeoutMs: 3000 });
    assert.equal(r.status, 400, url);
    assert.equal(JSON.parse(r.body).error, 'bad_cursor', url);
  }
});

test('eventsource client: drop mid-stream, reconnect with Last-Event-ID, every event exactly once', async () => {
  const proxy = await startProxy(server.port);
  const received = [];  // { id, data } of 'created' events on topic orders
  const others = [];    // any other event the client saw (message, reset, ...)
  let opens = 0;
  let lastIdAtReopen;
  let cut = false;

  const es = new EventSource(`${proxy.url}/topics/orders/sse`);
  try {
    es.addEventListener('open', () => {
      opens++;
      if (opens === 2) lastIdAtReopen = received.at(-1)?.id;
    });
    es.addEventListener('created', (e) => {
      received.push({ id: e.lastEventId, data: e.data });
      if (received.length === 10 && !cut) {
        cut = true;
        proxy.cutAll();  // publishing goes on while the client is away
      }
    });
    for (const type of ['message', 'reset', 'paid']) {
      es.addEventListener(type, (e) => others.push({ type, id: e.lastEventId, data: e.data }));
    }
    await waitFor(() => opens >= 1, { what: 'the stream to open' });

    // 50 events on 'orders', with events of another topic in between (must not show).
    const ids = [];
    for (let n = 0; n < 50; n++) {
      ids.push(await server.publish('orders', 'created', { n }));
      if (n % 5 === 0) await server.publish('payments', 'paid', { n });
      await sleep(5);
    }

    await waitFor(() => received.length >= 50, { timeoutMs: 30_000, what: () => `all 50 events (got ${received.length}, opens ${opens})` });
    await sleep(300);  // anything duplicated would show up now

    assert.ok(cut, 'the proxy cut the stream');
    assert.ok(opens >= 2, `the client reconnected (opens: ${opens})`);
    assert.deepEqual(others, [], 'no other event type or topic arrived');
    assert.equal(received.length, 50, 'every event exactly once');
    assert.deepEqual(received.map((r) => r.id), ids, 'ids are the published ids, in order');
    assert.deepEqual(received.map((r) => JSON.parse(r.data).n), [...Array(50).keys()], 'payloads in order');
    assert.equal(received[7].data, '{"n":7}', 'data is the payload exactly as published');

    const sse = proxy.requests().filter((r) => r.method === 'GET' && r.target.startsWith('/topics/orders/sse'));
    assert.ok(sse.length >= 2, `a second SSE request went through the proxy (${sse.length})`);
    assert.equal(sse[0].headers['last-event-id'], undefined, 'the first request has no Last-Event-ID');
    assert.ok(lastIdAtReopen, 'events had arrived before the reconnect');
    assert.equal(sse[1].headers['last-event-id'], lastIdAtReopen,
      'the reconnect carried the id of the last event received');
  } finally {
    es.close();
    await proxy.close();
  }
});
