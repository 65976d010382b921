// The long-poll peer for benchmarks/run-poll-bench: an Express server written the
// way the seed article's Node examples are (an in-memory array, a set of waiting
// responses, answer them all on publish). Same endpoints as lastmile-server:
// GET /healthz, POST /topics/:topic/events, GET /api/events?topic&cursor&timeout&limit.
'use strict';
const express = require('express');

const app = express();
app.use(express.text({ type: '*/*', limit: '1mb' }));
const events = [];
let nextId = 1;
const waiting = new Set();

app.get('/healthz', (req, res) => res.json({ status: 'ok' }));

app.post('/topics/:topic/events', (req, res) => {
  const ev = {
    id: String(nextId++),
    topic: req.params.topic,
    type: req.query.type || 'message',
    data: req.body,
    time: new Date().toISOString(),
  };
  events.push(ev);
  if (events.length > 100000) events.shift();
  for (const w of waiting) {
    if (w.topic && w.topic !== ev.topic) continue;
    clearTimeout(w.timer);
    waiting.delete(w);
    w.res.json({ events: [ev], nextCursor: ev.id });
  }
  res.status(201).json({ id: ev.id });
});

app.get('/api/events', (req, res) => {
  const topic = req.query.topic;
  let cursor = req.query.cursor || 'latest';
  if (cursor === 'latest') cursor = String(nextId - 1);
  if (cursor === 'earliest') cursor = '0';
  const limit = Number(req.query.limit || 100);
  const after = events.filter((e) => Number(e.id) > Number(cursor) && (!topic || e.topic === topic)).slice(0, limit);
  if (after.length) return res.json({ events: after, nextCursor: after[after.length - 1].id });
  const w = {
    topic,
    res,
    timer: setTimeout(() => {
      waiting.delete(w);
      res.json({ events: [], nextCursor: cursor });
    }, Number(req.query.timeout || 30) * 1000),
  };
  waiting.add(w);
  res.on('close', () => {
    clearTimeout(w.timer);
    waiting.delete(w);
  });
});

const port = Number(process.argv[2] || 8091);
const server = app.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}`));
server.keepAliveTimeout = 65000;  // Node's 5 s default would close pollers' idle connections between polls
server.headersTimeout = 66000;
