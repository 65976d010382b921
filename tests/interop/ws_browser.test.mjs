// WebSocket against a real browser: headless Debian Chromium (playwright-core). The
// seed article's ReconnectingWebSocket class runs unchanged in the page, over
// Chromium's own WebSocket, through a TCP proxy that cuts every connection twice
// mid-stream; it must end up with every event exactly once, in order.
//
// The proxy here also records what the server sends, so the test sees the server
// side of permessage-deflate: the 101 answers accept Chromium's offer, and event
// frames arrive with RSV1 set and inflate (raw deflate + 00 00 ff ff) to the events.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import zlib from 'node:zlib';
import { launchBrowser } from './browser.mjs';
import { startServer, waitFor, sleep } from './server.mjs';

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

// The seed article's client, verbatim (it uses the global WebSocket). Its source
// text is what the page runs.
class ReconnectingWebSocket {
  constructor(url, options = {}) {
    this.url = url;
    this.maxRetries = options.maxRetries || 10;
    this.baseDelay = options.baseDelay || 1000;
    this.retries = 0;
    this.lastEventId = null;
    this.handlers = new Map();
    this.connect();
  }

  connect() {
    const url = this.lastEventId
      ? `${this.url}?resumeFrom=${this.lastEventId}`
      : this.url;

    this.ws = new WebSocket(url);

    this.ws.onopen = () => {
      this.retries = 0;
      // Re-subscribe to topics after reconnection
      for (const [event, handler] of this.handlers) {
        this.ws.send(JSON.stringify({ type: 'subscribe', topic: event }));
      }
    };

    this.ws.onmessage = (msg) => {
      const data = JSON.parse(msg.data);
      if (data.event?.id) this.lastEventId = data.event.id;
      const handler = this.handlers.get(data.topic);
      if (handler) handler(data.event);
    };

    this.ws.onclose = () => this.reconnect();
    this.ws.onerror = () => this.ws.close();
  }

  reconnect() {
    if (this.retries >= this.maxRetries) return;
    const delay = this.baseDelay * Math.pow(2, this.retries);
    this.retries++;
    setTimeout(() => this.connect(), delay);
  }

  subscribe(topic, handler) {
    this.handlers.set(topic, handler);
    if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type: 'subscribe', topic }));
    }
  }
}

// A TCP proxy that records both directions per connection and can cut them all.
async function startRecordingProxy(targetPort) {
  const pairs = new Set();
  const records = [];  // { up: Buffer[], down: Buffer[] } per accepted connection
  const srv = net.createServer((client) => {
    const record = { up: [], down: [] };
    records.push(record);
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    const pair = { client, upstream };
    pairs.add(pair);
    client.on('data', (d) => record.up.push(d));
    upstream.on('data', (d) => record.down.push(d));
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', close);
      s.on('close', close);
    }
  });
  await new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: srv.address().port,
    records,
    cutAll() {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
    },
    close() {
      this.cutAll();
      return new Promise((resolve) => srv.close(() => resolve()));
    },
  };
}

// Splits one direction of a recorded WebSocket connection into the HTTP head and
// the frames after it (a frame cut off by the proxy is left out).
function parseHead(buf) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const headers = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { start: lines[0], headers, rest: buf.subarray(end + 4) };
}

function serverFrames(buf) {
  const frames = [];
  let pos = 0;
  while (pos + 2 <= buf.length) {
    const b0 = buf[pos], b1 = buf[pos + 1];
    assert.equal(b1 & 0x80, 0, 'server frames are not masked');
    let len = b1 & 0x7f, hdr = 2;
    if (len === 126) {
      if (pos + 4 > buf.length) break;
      len = buf.readUInt16BE(pos + 2);
      hdr = 4;
    } else if (len === 127) {
      if (pos + 10 > buf.length) break;
      len = Number(buf.readBigUInt64BE(pos + 2));
      hdr = 10;
    }
    if (pos + hdr + len > buf.length) break;
    frames.push({ fin: !!(b0 & 0x80), rsv1: !!(b0 & 0x40), opcode: b0 & 0x0f, payload: buf.subarray(pos + hdr, pos + hdr + len) });
    pos += hdr + len;
  }
  return frames;
}

test('Chromium WebSocket + article ReconnectingWebSocket: cut twice mid-stream, every event exactly once, permessage-deflate', async () => {
  const proxy = await startRecordingProxy(server.port);
  const page = await browser.context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  let cuts = 0;
  try {
    // Called by the page at its 10th and 30th event: cut while publishing goes on.
    await page.exposeFunction('lastmileCut', (n) => {
      if ((n >= 10 && cuts === 0) || (n >= 30 && cuts === 1)) {
        cuts++;
        proxy.cutAll();
      }
    });
    const res = await page.goto(`${server.url}/healthz`);
    assert.equal(res.status(), 200);
    // Observe what the article's class cannot tell (opens, negotiated extensions,
    // acks, other messages) through a subclass installed as the page's WebSocket.
    await page.evaluate(() => {
      const Native = window.WebSocket;
      window.sockets = [];
      window.extensions = [];
      window.acks = [];
      window.others = [];
      window.received = [];
      window.WebSocket = class extends Native {
        constructor(...args) {
          super(...args);
          window.sockets.push(this);
          this.addEventListener('open', () => window.extensions.push(this.extensions));
          this.addEventListener('message', (m) => {
            const data = JSON.parse(m.data);
            if (data.type === 'subscribed') window.acks.push(data.topic);
            else if (!data.event) window.others.push(data);
          });
        }
      };
    });
    await page.addScriptTag({ content: `${ReconnectingWebSocket.toString()}\nwindow.ReconnectingWebSocket = ReconnectingWebSocket;` });
    await page.evaluate((url) => {
      const client = new window.ReconnectingWebSocket(url, { baseDelay: 50, maxRetries: 50 });
      window.client = client;
      client.subscribe('orders', (event) => {
        if (!event) return;  // the class also hands over {type:"subscribed"} (a topic, no event)
        window.received.push(event);
        window.lastmileCut(window.received.length);
      });
    }, `ws://127.0.0.1:${proxy.port}/ws`);
    await waitFor(() => page.evaluate(() => window.acks.length >= 1), { what: 'the first subscribed ack', intervalMs: 50 });

    // A compressible payload, so the server's shared deflated frames are used.
    const pad = 'all work and no play makes jack a dull boy '.repeat(6);
    const ids = [];
    for (let n = 0; n < 60; n++) {
      ids.push(await server.publish('orders', 'created', { n, pad }));
      if (n % 4 === 0) await server.publish('payments', 'paid', { n });  // another topic: never shown
      await sleep(10);
    }
    await waitFor(() => page.evaluate(() => window.received.length >= 60), {
      timeoutMs: 30_000, intervalMs: 100,
      what: () => page.evaluate(() => `all 60 events (got ${window.received.length}, connections ${window.sockets.length})`),
    });
    await sleep(300);  // a duplicate would show up now
    const got = await page.evaluate(() => ({
      received: window.received, others: window.others, extensions: window.extensions,
      connections: window.sockets.length, urls: window.sockets.map((s) => s.url),
    }));
    await page.evaluate(() => { window.client.maxRetries = 0; window.client.ws.close(1000); });

    assert.equal(cuts, 2, 'the proxy cut the connections twice');
    assert.ok(got.connections >= 3, `the client reconnected (connections: ${got.connections})`);
    assert.deepEqual(got.others, [], 'no error or reset message');
    assert.equal(got.received.length, 60, 'every event exactly once');
    assert.deepEqual(got.received.map((e) => e.id), ids, 'ids are the published ids, in order');
    assert.deepEqual(got.received.map((e) => e.data.n), [...Array(60).keys()], 'payloads in order');
    assert.ok(got.received.every((e) => e.type === 'created' && /Z$/.test(e.time)), 'type and time present');
    assert.match(got.urls[1], /\/ws\?resumeFrom=[0-9a-f]+-\d+$/, 'reconnects carry resumeFrom');

    // permessage-deflate, as the browser saw it ...
    assert.ok(got.extensions.length >= 3, `opens: ${got.extensions.length}`);
    for (const ext of got.extensions) assert.match(ext, /^permessage-deflate/, `negotiated extensions: "${ext}"`);

    // ... and as the server sent it.
    let compressed = 0;
    const upgraded = proxy.records.filter((r) => r.down.length > 0);
    assert.ok(upgraded.length >= 3, `three connections answered (${upgraded.length})`);
    for (const r of upgraded) {
      const request = parseHead(Buffer.concat(r.up));
      const response = parseHead(Buffer.concat(r.down));
      assert.ok(request && response, 'complete heads');
      assert.match(request.start, /^GET \/ws(\?resumeFrom=\S+)? HTTP\/1\.1$/);
      assert.match(request.headers['sec-websocket-extensions'] ?? '', /permessage-deflate/, 'Chromium offered deflate');
      assert.match(response.start, /^HTTP\/1\.1 101 /);
      assert.match(response.headers['sec-websocket-extensions'] ?? '', /^permessage-deflate/, 'the server accepted it');
      for (const f of serverFrames(response.rest)) {
        if (f.opcode !== 1 || !f.rsv1) continue;
        assert.ok(f.fin, 'compressed messages are sent in one frame');
        const text = zlib.inflateRawSync(Buffer.concat([f.payload, Buffer.from([0, 0, 0xff, 0xff])]),
          { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString();
        const message = JSON.parse(text);
        assert.equal(message.topic, 'orders');
        assert.ok(ids.includes(message.event.id), 'a compressed frame carries a published event');
        assert.ok(f.payload.length < text.length / 2, `compressed ${text.length} -> ${f.payload.length} bytes`);
        compressed++;
      }
    }
    assert.ok(compressed >= 40, `event frames went out compressed (${compressed} with RSV1)`);
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
    await proxy.close();
  }
});
