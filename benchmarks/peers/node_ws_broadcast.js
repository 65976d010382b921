// Benchmark peer: the Node `ws` server of the seed article's WebSocket section, in
// its shape: a Map from each client to its set of topics, `subscribe` /
// `unsubscribe` JSON messages, a 30 s ping heartbeat, and publishEvent(topic, event)
// sending JSON.stringify({topic, event}) to every open client subscribed to the
// topic. The events come from `POST /publish` (JSON body, topic "bench" unless
// ?topic=) on the same port, in place of the article's Kafka consumer.
//   node node_ws_broadcast.js PORT
'use strict';
const http = require('http');
const WebSocket = require('ws');

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url.startsWith('/publish')) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const topic = new URL(req.url, 'http://x').searchParams.get('topic') || 'bench';
      publishEvent(topic, JSON.parse(Buffer.concat(chunks).toString()));
      res.writeHead(204);
      res.end();
    });
    return;
  }
  res.writeHead(req.url === '/healthz' ? 200 : 404, { 'Content-Type': 'application/json' });
  res.end('{"status":"ok"}');
});
server.keepAliveTimeout = 65000;

const wss = new WebSocket.Server({ server });
const subscriptions = new Map(); // client -> Set of topics

wss.on('connection', (ws) => {
  subscriptions.set(ws, new Set());
  ws.on('message', (raw) => {
    const msg = JSON.parse(raw);
    if (msg.type === 'subscribe') {
      subscriptions.get(ws).add(msg.topic);
      ws.send(JSON.stringify({ type: 'subscribed', topic: msg.topic }));
    }
    if (msg.type === 'unsubscribe') subscriptions.get(ws).delete(msg.topic);
  });
  ws.on('close', () => subscriptions.delete(ws));
  ws.isAlive = true;
  ws.on('pong', () => { ws.isAlive = true; });
});

setInterval(() => {
  wss.clients.forEach((ws) => {
    if (!ws.isAlive) return ws.terminate();
    ws.isAlive = false;
    ws.ping();
  });
}, 30000);

function publishEvent(topic, event) {
  wss.clients.forEach((ws) => {
    if (ws.readyState === WebSocket.OPEN && subscriptions.get(ws)?.has(topic)) {
      ws.send(JSON.stringify({ topic, event }));
    }
  });
}

const port = Number(process.argv[2] || 18530);
server.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}`));
