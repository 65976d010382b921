// The peer for the HTTP benchmark: a minimal Node `http` server with the same two
// endpoints as lastmile-server's REST core (GET /healthz, POST /topics/:t/events
// appending to an in-memory array). No dependencies beyond Node itself.
'use strict';
const http = require('http');
const port = Number(process.argv[2] || 8090);
const events = [];
let next = 1;

http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') {
    const body = '{"status":"ok"}';
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
    res.end(body);
    return;
  }
  const m = /^\/topics\/([A-Za-z0-9._:-]{1,128})\/events$/.exec(req.url);
  if (req.method === 'POST' && m) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const id = `1-${next++}`;
      events.push({ id, topic: m[1], payload: Buffer.concat(chunks).toString() });
      if (events.length > 100000) events.shift();
      const body = `{"id":"${id}"}`;
      res.writeHead(201, { 'Content-Type': 'application/json', 'Content-Length': body.length });
      res.end(body);
    });
    return;
  }
  res.writeHead(404, { 'Content-Type': 'application/json' });
  res.end('{"error":"not_found","message":"no such resource"}');
}).listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}`));
