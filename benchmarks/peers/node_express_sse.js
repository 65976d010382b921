// Benchmark peer: the seed article's Express SSE server, in its shape: a Set of
// responses, `GET /events` writing the SSE headers and a `connected` event, and
// broadcast(eventType, data) writing `event:` / `id:` / `data: JSON.stringify(data)`
// to every client. Events come from `POST /publish` (JSON body) in place of the
// article's Kafka consumer; the id is a counter (the article uses the offset).
//   node node_express_sse.js PORT
'use strict';
const express = require('express');
const app = express();
app.use(express.json({ limit: '1mb' }));

const clients = new Set();
let offset = 0;

app.get('/healthz', (req, res) => res.json({ status: 'ok' }));

app.get('/events', (req, res) => {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    'Connection': 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.write(`event: connected\ndata: ${JSON.stringify({ status: 'ok' })}\n\n`);
  clients.add(res);
  req.on('close', () => {
    clients.delete(res);
  });
});

function broadcast(eventType, data) {
  const payload = `event: ${eventType}\nid: ${data.id}\ndata: ${JSON.stringify(data)}\n\n`;
  for (const client of clients) {
    client.write(payload);
  }
}

app.post('/publish', (req, res) => {
  broadcast('message', { id: `${++offset}`, ...req.body });
  res.status(204).end();
});

const port = Number(process.argv[2] || 18540);
const server = app.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}`));
server.keepAliveTimeout = 65000;
