// WebSocket against the npm `ws` client, per the "WebSocket" section of the wire
// contract. The seed article's ReconnectingWebSocket class runs unchanged with
// globalThis.WebSocket = ws, through a TCP proxy that cuts every connection
// mid-stream: it reconnects with ?resumeFrom=<last event id>, re-sends subscribe,
// and must end up with every event exactly once, in order.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WsWebSocket from 'ws';  // not named WebSocket: the article's class must use the global
import { startProxy, startServer, waitFor, sleep } from './server.mjs';

let server;

before(async () => {
  server = await startServer(['--heartbeat', '1']);
});

after(async () => {
  if (server) await server.stop();
});

// The seed article's client, verbatim (it uses the global WebSocket).
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

test('article ReconnectingWebSocket over ws: cut twice mid-stream, every event exactly once', async () => {
  const proxy = await startProxy(server.port);
  // Watch what the article's class cannot tell us (opens, acks, other messages)
  // through a subclass installed as the global WebSocket.
  const sockets = [];
  const acks = [];
  const others = [];
  globalThis.WebSocket = class extends WsWebSocket {
    constructor(...args) {
      super(...args);
      sockets.push(this);
      this.addEventListener('message', (m) => {
        const data = JSON.parse(m.data);
        if (data.type === 'subscribed') acks.push(data.topic);
        else if (!data.event) others.push(data);
      });
    }
  };
  const received = [];  // events handed to the 'orders' handler
  let cuts = 0;
  const client = new ReconnectingWebSocket(`ws://127.0.0.1:${proxy.port}/ws`, { baseDelay: 50, maxRetries: 50 });
  try {
    client.subscribe('orders', (event) => {
      if (!event) return;  // the class also hands over {type:"subscribed"} (it has a topic, no event)
      received.push(event);
      if ((received.length === 10 && cuts === 0) || (received.length === 30 && cuts === 1)) {
        cuts++;
        proxy.cutAll();  // publishing goes on while the client is away
      }
    });
    await waitFor(() => acks.length >= 1, { what: 'the first subscribed ack' });

    const ids = [];
    for (let n = 0; n < 60; n++) {
      ids.push(await server.publish('orders', 'created', { n }));
      if (n % 4 === 0) await server.publish('payments', 'paid', { n });  // another topic: never shown
      await sleep(5);
    }
    await waitFor(() => received.length >= 60, {
      timeoutMs: 30_000,
      what: () => `all 60 events (got ${received.length}, connections ${sockets.length}, cuts ${cuts})`,
    });
    await sleep(300);  // a duplicate would show up now

    assert.equal(cuts, 2, 'the proxy cut the connection twice');
    assert.ok(sockets.length >= 3, `the client reconnected (connections: ${sockets.length})`);
    assert.deepEqual(others, [], 'no error or reset message');
    assert.equal(received.length, 60, 'every event exactly once');
    assert.deepEqual(received.map((e) => e.id), ids, 'ids are the published ids, in order');
    assert.deepEqual(received.map((e) => e.data.n), [...Array(60).keys()], 'payloads in order');
    assert.ok(received.every((e) => e.type === 'created' && /Z$/.test(e.time)), 'type and time present');

    const upgrades = proxy.requests().filter((r) => r.method === 'GET' && r.target.startsWith('/ws'));
    assert.ok(upgrades.length >= 3, `three upgrades went through the proxy (${upgrades.length})`);
    assert.equal(upgrades[0].target, '/ws', 'the first connection has no resumeFrom');
    assert.match(upgrades[1].target, /^\/ws\?resumeFrom=[0-9a-f]+-\d+$/, 'reconnects carry resumeFrom');
  } finally {
    client.maxRetries = 0;
    client.ws.close();
    delete globalThis.WebSocket;
    await proxy.close();
  }
});

test('ws client: permessage-deflate negotiated, control messages, errors keep the connection', async () => {
  const ws = new WsWebSocket(`ws://127.0.0.1:${server.port}/ws`);
  const inbox = [];
  ws.on('message', (data, isBinary) => {
    assert.equal(isBinary, false, 'the server sends text frames');
    inbox.push(JSON.parse(data.toString()));
  });
  const next = async () => {
    await waitFor(() => inbox.length > 0, { timeoutMs: 5000, what: 'a message' });
    return inbox.shift();
  };
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  try {
    assert.match(ws.extensions, /^permessage-deflate/, `extensions: ${ws.extensions}`);
    ws.send(JSON.stringify({ type: 'subscribe', topic: 'news.*' }));
    assert.deepEqual(await next(), { type: 'subscribed', topic: 'news.*' });
    const big = { text: 'all work and no play '.repeat(300) };
    const id = await server.publish('news.eu', 'story', big);
    const ev = await next();
    assert.equal(ev.topic, 'news.eu');
    assert.equal(ev.event.id, id);
    assert.deepEqual(ev.event.data, big);
    ws.send('not json');
    const err = await next();
    assert.equal(err.type, 'error');
    assert.equal(err.code, 'bad_request');
    ws.send(JSON.stringify({ type: 'subscribe', topic: 'x', from: 'bogus' }));
    assert.equal((await next()).code, 'bad_cursor');
    ws.send(JSON.stringify({ type: 'ping' }));
    assert.deepEqual(await next(), { type: 'pong' });
    const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
    ws.close(1000);
    assert.equal(await closed, 1000, 'the close code is echoed');
  } finally {
    ws.terminate();
  }
});
