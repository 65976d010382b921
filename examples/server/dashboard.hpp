#pragma once
// The reference server's dashboard, served at GET /: one self-contained page (inline
// CSS and vanilla JS, no external resource) that follows every topic over
// EventSource('/sse'), charts events per second and publishes over REST. Two more
// panels use the other transports: a WebSocket client of /ws (subscribe to a chosen
// topic, see its events and the connection state, publish with the `publish`
// message; it reconnects with ?resumeFrom=) and a long-polling loop over /poll that
// carries the cursor from answer to answer.
//
// What an SSE frame carries is id, event type and data (see the wire contract): a
// stream uses `/sse?format=json`: every event arrives as an unnamed (message) event
// whose data is the event's JSON, so the page sees every topic and type.
#include <string_view>

namespace lastmile_server {

inline constexpr std::string_view dashboard_html = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lastmile dashboard</title>
<link rel="icon" href="data:,">
<style>
  :root {
    --bg: #f5f6f8; --card: #fff; --ink: #1d2330; --muted: #687385; --line: #e3e6eb;
    --accent: #2f6fed; --accent-soft: #e6eefd; --ok: #1a9c5b; --warn: #c77c02; --bad: #d33a2c;
    --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace;
  }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--bg); color: var(--ink);
         font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
  header { display: flex; align-items: center; gap: 16px; padding: 12px 24px;
           background: var(--card); border-bottom: 1px solid var(--line); }
  header h1 { font-size: 18px; margin: 0; letter-spacing: .2px; }
  header h1 span { color: var(--muted); font-weight: 400; }
  .pill { display: inline-flex; align-items: center; gap: 6px; padding: 3px 10px; border-radius: 999px;
          font-size: 12px; font-weight: 600; background: #eef0f3; color: var(--muted); }
  .pill::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: currentColor; }
  .pill.live { background: #e3f5ec; color: var(--ok); }
  .pill.reconnecting { background: #fdf1dc; color: var(--warn); }
  .pill.closed { background: #fbe5e3; color: var(--bad); }
  .stats { display: flex; gap: 20px; margin-left: auto; color: var(--muted); font-size: 12px; }
  .stats b { color: var(--ink); font-family: var(--mono); font-weight: 600; }
  main { display: grid; grid-template-columns: minmax(300px, 360px) 1fr; gap: 16px; padding: 16px 24px; }
  .card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; }
  .card h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .6px; color: var(--muted);
             margin: 0 0 10px; display: flex; align-items: center; gap: 8px; }
  .card h2 .spacer { flex: 1; }
  .side { display: flex; flex-direction: column; gap: 16px; min-width: 0; }
  label { display: block; font-size: 12px; color: var(--muted); margin: 8px 0 3px; }
  input, textarea { width: 100%; padding: 7px 9px; border: 1px solid var(--line); border-radius: 6px;
                    font: 13px var(--mono); color: var(--ink); background: #fbfcfd; }
  input:focus, textarea:focus { outline: 2px solid var(--accent-soft); border-color: var(--accent); }
  textarea { resize: vertical; min-height: 64px; }
  button { font: inherit; font-size: 13px; font-weight: 600; border-radius: 6px; padding: 6px 12px;
           border: 1px solid var(--line); background: var(--card); color: var(--ink); cursor: pointer; }
  button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
  button:hover { filter: brightness(.96); }
  .row { display: flex; gap: 8px; align-items: center; margin-top: 10px; }
  .note { font-size: 12px; color: var(--muted); min-height: 1.4em; word-break: break-all; }
  .note.ok { color: var(--ok); } .note.bad { color: var(--bad); }
  canvas { width: 100%; height: 150px; display: block; }
  .legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; color: var(--muted); margin-top: 6px; }
  .legend span { white-space: nowrap; }
  .legend b { color: var(--ink); font-family: var(--mono); font-weight: 600; margin-left: 2px; }
  .legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px;
              vertical-align: -1px; }
  .events { min-width: 0; display: flex; flex-direction: column; }
  .table-wrap { flex: 1 1 0; min-height: 320px; overflow: auto; border: 1px solid var(--line); border-radius: 8px; }
  table { width: 100%; border-collapse: collapse; font-size: 13px; }
  th { position: sticky; top: 0; background: #f8f9fb; text-align: left; font-weight: 600; color: var(--muted);
       font-size: 12px; padding: 7px 10px; border-bottom: 1px solid var(--line); }
  td { padding: 6px 10px; border-bottom: 1px solid #f0f2f5; vertical-align: top; }
  td.id, td.time { font-family: var(--mono); font-size: 12px; color: var(--muted); white-space: nowrap; }
  td.data { font-family: var(--mono); font-size: 12px; max-width: 0; width: 55%;
            white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  .tag { display: inline-block; padding: 1px 7px; border-radius: 4px; font-size: 12px; white-space: nowrap;
         background: var(--accent-soft); color: var(--accent); font-family: var(--mono); }
  .tag.type { background: #f0ecfb; color: #6a45c9; }
  .tag.unknown { background: #eef0f3; color: var(--muted); }
  tr.fresh td { animation: flash 1.2s ease-out; }
  @keyframes flash { from { background: #fff7d6; } to { background: transparent; } }
  tr.reset td { background: #fdf1dc; color: #7a4b00; font-weight: 600; }
  tr.status td { color: var(--muted); font-style: italic; }
  .empty { padding: 28px; text-align: center; color: var(--muted); }
  .transports { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; padding: 0 24px 24px; }
  .transports .grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 0 10px; }
  .transports .row input { flex: 1; }
  .feed { list-style: none; margin: 10px 0 0; padding: 0; max-height: 260px; overflow: auto;
          border: 1px solid var(--line); border-radius: 8px; font: 12px var(--mono); }
  .feed li { padding: 5px 10px; border-bottom: 1px solid #f0f2f5; display: flex; gap: 8px; white-space: nowrap; }
  .feed li .id { color: var(--muted); }
  .feed li .data { overflow: hidden; text-overflow: ellipsis; min-width: 0; }
  .feed li.note-row { color: var(--muted); font-style: italic; }
  .feed li.reset { background: #fdf1dc; color: #7a4b00; }
  .feed:empty::before { content: "no events yet"; display: block; padding: 14px; color: var(--muted); text-align: center; }
  @media (max-width: 900px) { main, .transports, .transports .grid2 { grid-template-columns: 1fr; } }
</style>
</head>
<body>
<header>
  <h1>lastmile <span>dashboard</span></h1>
  <span id="status" class="pill">connecting</span>
  <div class="stats">
    <div>received <b id="stat-received">0</b></div>
    <div>reconnects <b id="stat-reconnects">0</b></div>
    <div>resets <b id="stat-resets">0</b></div>
    <div>last id <b id="stat-last-id">&ndash;</b></div>
  </div>
</header>

<main>
  <div class="side">
    <section class="card" id="publish-panel">
      <h2>Publish</h2>
      <form id="publish-form" autocomplete="off">
        <label for="pub-topic">topic</label>
        <input id="pub-topic" value="orders" required pattern="[A-Za-z0-9._:\-]{1,128}">
        <label for="pub-type">type</label>
        <input id="pub-type" value="created" required pattern="[A-Za-z0-9._:\-]{1,64}">
        <label for="pub-payload">payload (JSON or text)</label>
        <textarea id="pub-payload">{"order": 42}</textarea>
        <div class="row"><button class="primary" type="submit">Publish</button>
          <span id="pub-result" class="note"></span></div>
      </form>
    </section>

    <section class="card" id="stream-panel">
      <h2>SSE stream</h2>
      <label for="filter-topics">topics (comma-separated, <code>orders.*</code> prefix; empty = all)</label>
      <input id="filter-topics" placeholder="all topics">
      <div class="row"><button id="apply-stream" type="button">Apply</button>
        <button id="toggle-stream" type="button">Disconnect</button></div>
      <p id="stream-url" class="note"></p>
    </section>

    <section class="card" id="rate-panel">
      <h2>Events per second</h2>
      <canvas id="rate-chart" width="320" height="150"></canvas>
      <div class="legend"><span><i style="background:#b8cdf8"></i>published (server) <b id="rate-published">&ndash;</b></span>
        <span><i style="background:#2f6fed"></i>received (this page) <b id="rate-received">&ndash;</b></span></div>
    </section>
  </div>

  <section class="card events" id="events-panel">
    <h2>Live events <span class="spacer"></span>
      <button id="pause" type="button">Pause</button><button id="clear" type="button">Clear</button></h2>
    <div class="table-wrap">
      <table>
        <thead><tr><th>received</th><th>id</th><th>topic</th><th>type</th><th>data</th></tr></thead>
        <tbody id="event-rows"></tbody>
      </table>
      <div id="empty" class="empty">Waiting for events&hellip; publish one on the left.</div>
    </div>
  </section>
</main>

<div class="transports">
  <section class="card" id="ws-panel">
    <h2>WebSocket <span id="ws-status" class="pill">idle</span><span class="spacer"></span>
      <button id="ws-toggle" type="button">Connect</button></h2>
    <form id="ws-sub-form" autocomplete="off">
      <label for="ws-topic">subscribe to (<code>orders.*</code> prefix allowed)</label>
      <div class="row" style="margin-top:0"><input id="ws-topic" value="orders" required pattern="[A-Za-z0-9._:*\-]{1,130}">
        <button type="submit">Subscribe</button>
        <button id="ws-unsubscribe" type="button">Unsubscribe</button></div>
    </form>
    <p class="note">subscriptions: <span id="ws-subs">none</span></p>
    <form id="ws-pub-form" autocomplete="off">
      <div class="grid2">
        <div><label for="ws-pub-topic">publish over the socket: topic</label>
          <input id="ws-pub-topic" value="orders" required pattern="[A-Za-z0-9._:\-]{1,128}"></div>
        <div><label for="ws-pub-type">type</label>
          <input id="ws-pub-type" value="created" required pattern="[A-Za-z0-9._:\-]{1,64}"></div>
      </div>
      <label for="ws-pub-payload">data (JSON or text)</label>
      <input id="ws-pub-payload" value='{"via": "websocket"}'>
      <div class="row"><button type="submit">Send publish</button><span id="ws-pub-result" class="note"></span></div>
    </form>
    <p id="ws-note" class="note"></p>
    <ul id="ws-rows" class="feed"></ul>
  </section>

  <section class="card" id="poll-panel">
    <h2>Long polling <span id="poll-status" class="pill">idle</span><span class="spacer"></span>
      <button id="poll-toggle" type="button">Start</button></h2>
    <label for="poll-topics">topics (comma-separated, <code>orders.*</code> prefix; empty = all)</label>
    <div class="row" style="margin-top:0"><input id="poll-topics" placeholder="all topics">
      <button id="poll-apply" type="button">Apply</button></div>
    <p class="note">cursor <b id="poll-cursor">&ndash;</b> &middot; polls <b id="poll-count">0</b></p>
    <p id="poll-note" class="note"></p>
    <ul id="poll-rows" class="feed"></ul>
  </section>
</div>

<script>
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const MAX_ROWS = 500;
  const token = new URLSearchParams(location.search).get('token');  // when --auth-secret is set
  const authHeaders = token ? { Authorization: 'Bearer ' + token } : {};

  const state = {
    es: null, listening: new Set(), lastId: null, received: 0, reconnects: 0, resets: 0,
    opened: false, paused: false, pausedRows: [], 
    wanted: true,
  };

  // ---- Status ----
  function setStatus(kind, text) {
    const el = $('status');
    el.className = 'pill ' + kind;
    el.textContent = text;
  }
  function updateStats() {
    $('stat-received').textContent = state.received;
    $('stat-reconnects').textContent = state.reconnects;
    $('stat-resets').textContent = state.resets;
    $('stat-last-id').textContent = state.lastId ?? '\u2013';
  }

  // ---- Event list ----
  const fmtTime = (d) => d.toTimeString().slice(0, 8) + '.' + String(d.getMilliseconds()).padStart(3, '0');
  function cell(cls, text, title) {
    const td = document.createElement('td');
    if (cls) td.className = cls;
    td.textContent = text;
    if (title) td.title = title;
    return td;
  }
  function tag(text, cls) {
    const td = document.createElement('td');
    const s = document.createElement('span');
    s.className = 'tag ' + (cls || '');
    s.textContent = text;
    td.appendChild(s);
    return td;
  }
  function addRow(tr) {
    if (state.paused) { state.pausedRows.push(tr); return; }
    const body = $('event-rows');
    body.insertBefore(tr, body.firstChild);
    while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
    $('empty').style.display = 'none';
  }
  function noteRow(cls, text) {
    const tr = document.createElement('tr');
    tr.className = cls;
    tr.appendChild(cell('time', fmtTime(new Date())));
    const td = cell('', text);
    td.colSpan = 4;
    tr.appendChild(td);
    addRow(tr);
  }
  function onEvent(e) {
    let ev;
    try { ev = JSON.parse(e.data); } catch (_) { return; }
    state.lastId = e.lastEventId || state.lastId;
    state.received++;
    rate.received[rate.received.length - 1]++;
    const data = typeof ev.data === 'string' ? ev.data : JSON.stringify(ev.data);
    const tr = document.createElement('tr');
    tr.className = 'fresh';
    tr.dataset.id = ev.id;
    tr.appendChild(cell('time', fmtTime(new Date(ev.time))));
    tr.appendChild(cell('id', ev.id));
    tr.appendChild(tag(ev.topic));
    tr.appendChild(tag(ev.type, 'type'));
    tr.appendChild(cell('data', data, data));
    addRow(tr);
    updateStats();
  }
  function onReset(e) {
    state.resets++;
    let info = e.data;
    try { const r = JSON.parse(e.data); info = r.reason + ', continuing from ' + r.earliest; } catch (_) {}
    noteRow('reset', 'reset: ' + info);
    updateStats();
  }

  // ---- Stream ----
  function filterTopics() {
    return $('filter-topics').value.split(',').map((s) => s.trim()).filter(Boolean);
  }
  function streamUrl() {
    const q = new URLSearchParams();
    for (const t of filterTopics()) q.append('topic', t);
    q.set('format', 'json');
    if (state.lastId) q.set('last_event_id', state.lastId);  // no gap when the filter changes
    if (token) q.set('token', token);
    const s = q.toString();
    return '/sse' + (s ? '?' + s : '');
  }
  function connect() {
    disconnect();
    state.wanted = true;
    const url = streamUrl();
    $('stream-url').textContent = 'GET ' + url.replace(/token=[^&]*/, 'token=\u2026');
    const es = new EventSource(url);
    state.es = es;
    state.opened = false;
    setStatus('', 'connecting');
    es.addEventListener('open', () => {
      if (state.opened) { state.reconnects++; noteRow('status', 'reconnected, resuming after ' + (state.lastId ?? 'latest')); }
      state.opened = true;
      setStatus('live', 'live');
      updateStats();
    });
    es.addEventListener('error', () => {
      if (es.readyState === EventSource.CONNECTING) setStatus('reconnecting', 'reconnecting\u2026');
      else if (es.readyState === EventSource.CLOSED) setStatus('closed', 'closed');
    });
    es.addEventListener('reset', onReset);
    es.addEventListener('message', onEvent);
    $('toggle-stream').textContent = 'Disconnect';
  }
  function disconnect() {
    if (state.es) state.es.close();
    state.es = null;
  }
  $('apply-stream').addEventListener('click', connect);
  $('toggle-stream').addEventListener('click', () => {
    if (state.es) {
      disconnect();
      state.wanted = false;
      setStatus('closed', 'disconnected');
      $('toggle-stream').textContent = 'Connect';
    } else {
      connect();
    }
  });
  $('pause').addEventListener('click', () => {
    state.paused = !state.paused;
    $('pause').textContent = state.paused ? 'Resume (' + state.pausedRows.length + ')' : 'Pause';
    if (!state.paused) { const rows = state.pausedRows; state.pausedRows = []; rows.forEach(addRow); }
  });
  $('clear').addEventListener('click', () => {
    $('event-rows').textContent = '';
    state.pausedRows = [];
    $('empty').style.display = '';
  });

  // ---- Publish ----
  $('publish-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const topic = $('pub-topic').value.trim(), type = $('pub-type').value.trim();
    const out = $('pub-result');
    out.className = 'note';
    out.textContent = 'publishing\u2026';
    try {
      const res = await fetch('/topics/' + encodeURIComponent(topic) + '/events?type=' + encodeURIComponent(type),
                              { method: 'POST', body: $('pub-payload').value, headers: authHeaders });
      const body = await res.json().catch(() => ({}));
      if (res.status === 201) {
        out.className = 'note ok';
        out.textContent = '201 id ' + body.id;
      } else {
        out.className = 'note bad';
        out.textContent = res.status + ' ' + (body.error || '') + (body.message ? ': ' + body.message : '');
      }
    } catch (err) {
      out.className = 'note bad';
      out.textContent = 'failed: ' + err.message;
    }
  });

  // ---- Events per second, last 60 s ----
  const SECONDS = 60;
  const rate = { published: new Array(SECONDS).fill(null), received: new Array(SECONDS).fill(0), lastTotal: null };
  async function samplePublished() {
    try {
      const text = await (await fetch('/metrics', { cache: 'no-store' })).text();
      const m = /^lastmile_events_published_total(?:\{[^}]*\})?\s+([0-9.eE+-]+)\s*$/m.exec(text);
      if (!m) return null;
      const total = Number(m[1]);
      const delta = rate.lastTotal === null ? null : Math.max(0, total - rate.lastTotal);
      rate.lastTotal = total;
      return delta;
    } catch (_) {
      return null;
    }
  }
  function drawChart() {
    const canvas = $('rate-chart');
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const pad = { l: 34, r: 6, t: 8, b: 18 };
    const cw = w - pad.l - pad.r, ch = h - pad.t - pad.b;
    const max = Math.max(5, ...rate.published.map((v) => v ?? 0), ...rate.received);
    const top = niceCeil(max);
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = '#687385';
    g.strokeStyle = '#eceef2';
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = pad.t + ch - (ch * i) / 4 + 0.5;
      g.beginPath(); g.moveTo(pad.l, y); g.lineTo(w - pad.r, y); g.stroke();
      g.textAlign = 'right'; g.textBaseline = 'middle';
      g.fillText(formatCount((top * i) / 4), pad.l - 5, y);
    }
    g.textAlign = 'left'; g.textBaseline = 'top';
    g.fillText('60 s ago', pad.l, pad.t + ch + 4);
    g.textAlign = 'right';
    g.fillText('now', w - pad.r, pad.t + ch + 4);
    const bw = cw / SECONDS;
    g.fillStyle = '#b8cdf8';
    rate.published.forEach((v, i) => {
      if (!v) return;
      const bh = (ch * v) / top;
      g.fillRect(pad.l + i * bw + 0.5, pad.t + ch - bh, Math.max(1, bw - 1), bh);
    });
    g.strokeStyle = '#2f6fed';
    g.lineWidth = 1.5;
    g.lineJoin = 'round';
    g.beginPath();
    rate.received.forEach((v, i) => {
      const x = pad.l + i * bw + bw / 2, y = pad.t + ch - (ch * v) / top;
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
  }
  function niceCeil(v) {
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }
  function formatCount(v) {
    if (v >= 1e6) return (v / 1e6).toFixed(v % 1e6 ? 1 : 0) + 'M';
    if (v >= 1e3) return (v / 1e3).toFixed(v % 1e3 ? 1 : 0) + 'k';
    return String(Math.round(v * 10) / 10);
  }
  async function tick() {
    const published = await samplePublished();
    rate.published[SECONDS - 1] = published;
    const got = rate.received[SECONDS - 1];
    $('rate-published').textContent = published === null ? '\u2013' : published + '/s';
    $('rate-received').textContent = got + '/s';
    drawChart();
    rate.published.push(null); rate.published.shift();
    rate.received.push(0); rate.received.shift();
  }
  window.addEventListener('resize', drawChart);

  // ---- Small event feeds (WebSocket and long-polling panels) ----
  const FEED_MAX = 200;
  function feedAdd(list, ev, topic) {
    const li = document.createElement('li');
    li.dataset.id = ev.id;
    const data = typeof ev.data === 'string' ? ev.data : JSON.stringify(ev.data);
    for (const [cls, text] of [['id', ev.id], ['', topic], ['', ev.type], ['data', data]]) {
      const span = document.createElement('span');
      if (cls) span.className = cls;
      span.textContent = text;
      li.appendChild(span);
    }
    li.title = data;
    list.insertBefore(li, list.firstChild);
    while (list.children.length > FEED_MAX) list.removeChild(list.lastChild);
  }
  function feedNote(list, cls, text) {
    const li = document.createElement('li');
    li.className = cls;
    li.textContent = fmtTime(new Date()) + ' ' + text;
    list.insertBefore(li, list.firstChild);
  }
  function setPill(el, kind, text) {
    el.className = 'pill ' + kind;
    el.textContent = text;
  }
  function parsePayload(text) {
    try { return JSON.parse(text); } catch (_) { return text; }
  }

  // ---- WebSocket panel: /ws, subscribe/unsubscribe/publish messages, resume on reconnect ----
  const ws = { sock: null, wanted: false, topics: new Set(), acked: new Set(), lastId: null, retries: 0, timer: null };
  function wsUrl() {
    const q = new URLSearchParams();
    if (ws.lastId) q.set('resumeFrom', ws.lastId);
    if (token) q.set('token', token);
    const s = q.toString();
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws' + (s ? '?' + s : '');
  }
  function wsShowSubs() {
    const list = [...ws.topics].map((t) => t + (ws.acked.has(t) ? '' : ' (pending)'));
    $('ws-subs').textContent = list.length ? list.join(', ') : 'none';
    $('ws-subs').dataset.acked = [...ws.acked].sort().join(',');  // what the server confirmed
  }
  function wsSend(msg) {
    if (!ws.sock || ws.sock.readyState !== WebSocket.OPEN) return false;
    ws.sock.send(JSON.stringify(msg));
    return true;
  }
  function wsConnect() {
    clearTimeout(ws.timer);
    ws.wanted = true;
    $('ws-toggle').textContent = 'Disconnect';
    setPill($('ws-status'), '', 'connecting');
    const sock = new WebSocket(wsUrl());
    ws.sock = sock;
    sock.addEventListener('open', () => {
      ws.retries = 0;
      ws.acked.clear();
      setPill($('ws-status'), 'live', 'open');
      $('ws-note').textContent = 'connected' + (sock.extensions ? ' (' + sock.extensions.split(';')[0] + ')' : '') +
        (ws.lastId ? ', resuming after ' + ws.lastId : '');
      for (const topic of ws.topics) wsSend({ type: 'subscribe', topic });
      wsShowSubs();
    });
    sock.addEventListener('message', (m) => {
      let msg;
      try { msg = JSON.parse(m.data); } catch (_) { return; }
      if (msg.event) {
        ws.lastId = msg.event.id;
        feedAdd($('ws-rows'), msg.event, msg.topic);
      } else if (msg.type === 'subscribed') {
        ws.acked.add(msg.topic);
        wsShowSubs();
      } else if (msg.type === 'unsubscribed') {
        ws.acked.delete(msg.topic);
        wsShowSubs();
      } else if (msg.type === 'published') {
        $('ws-pub-result').className = 'note ok';
        $('ws-pub-result').textContent = 'published ' + msg.id;
      } else if (msg.type === 'reset') {
        feedNote($('ws-rows'), 'reset', 'reset on ' + msg.topic + ': ' + msg.reason + ', continuing from ' + msg.earliest);
      } else if (msg.type === 'error') {
        $('ws-pub-result').className = 'note bad';
        $('ws-pub-result').textContent = msg.code + ': ' + msg.message;
      }
    });
    sock.addEventListener('close', (e) => {
      if (ws.sock !== sock) return;
      ws.sock = null;
      ws.acked.clear();
      wsShowSubs();
      $('ws-note').textContent = 'closed (' + e.code + (e.reason ? ' ' + e.reason : '') + ')';
      if (!ws.wanted) { setPill($('ws-status'), 'closed', 'closed'); return; }
      const delay = Math.min(10000, 500 * Math.pow(2, ws.retries++));
      setPill($('ws-status'), 'reconnecting', 'reconnecting\u2026');
      ws.timer = setTimeout(wsConnect, delay);
    });
  }
  function wsDisconnect() {
    ws.wanted = false;
    clearTimeout(ws.timer);
    $('ws-toggle').textContent = 'Connect';
    if (ws.sock) ws.sock.close(1000);
    else setPill($('ws-status'), 'closed', 'closed');
  }
  $('ws-toggle').addEventListener('click', () => (ws.wanted ? wsDisconnect() : wsConnect()));
  $('ws-sub-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const topic = $('ws-topic').value.trim();
    ws.topics.add(topic);
    wsShowSubs();
    if (!ws.wanted) wsConnect();  // subscribes on open
    else wsSend({ type: 'subscribe', topic });
  });
  $('ws-unsubscribe').addEventListener('click', () => {
    const topic = $('ws-topic').value.trim();
    ws.topics.delete(topic);
    wsShowSubs();
    wsSend({ type: 'unsubscribe', topic });
  });
  $('ws-pub-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const sent = wsSend({ type: 'publish', topic: $('ws-pub-topic').value.trim(), event: $('ws-pub-type').value.trim(),
                          data: parsePayload($('ws-pub-payload').value) });
    $('ws-pub-result').className = sent ? 'note' : 'note bad';
    $('ws-pub-result').textContent = sent ? 'sent\u2026' : 'not connected';
  });

  // ---- Long-polling panel: /poll in a loop, the cursor carried from answer to answer ----
  const poll = { running: false, abort: null, cursor: null, count: 0, generation: 0 };
  function pollTopics() {
    return $('poll-topics').value.split(',').map((s) => s.trim()).filter(Boolean);
  }
  async function pollLoop(generation) {
    let failures = 0;
    while (poll.running && poll.generation === generation) {
      const q = new URLSearchParams();
      for (const t of pollTopics()) q.append('topic', t);
      // The first poll only learns where the log ends (timeout 0), so nothing
      // published after Start is missed; later ones are held up to 25 s.
      q.set('cursor', poll.cursor ?? 'latest');
      q.set('timeout', poll.cursor ? '25' : '0');
      if (token) q.set('token', token);
      poll.abort = new AbortController();
      try {
        const res = await fetch('/poll?' + q.toString(), { cache: 'no-store', signal: poll.abort.signal });
        const body = await res.json().catch(() => ({}));
        if (poll.generation !== generation) return;
        if (res.status !== 200) throw new Error(res.status + ' ' + (body.error || '') + (body.message ? ': ' + body.message : ''));
        failures = 0;
        poll.count++;
        if (body.reset) feedNote($('poll-rows'), 'reset', 'reset: ' + body.reset.reason);
        for (const ev of body.events || []) feedAdd($('poll-rows'), ev, ev.topic);
        poll.cursor = body.nextCursor;
        $('poll-cursor').textContent = poll.cursor;
        $('poll-count').textContent = poll.count;
        $('poll-note').className = 'note';
        $('poll-note').textContent = 'GET /poll?' + q.toString().replace(/token=[^&]*/, 'token=\u2026');
        setPill($('poll-status'), 'live', 'polling');
      } catch (err) {
        if (poll.generation !== generation || !poll.running) return;
        failures++;
        setPill($('poll-status'), 'reconnecting', 'retrying\u2026');
        $('poll-note').className = 'note bad';
        $('poll-note').textContent = 'poll failed: ' + err.message;
        await new Promise((r) => setTimeout(r, Math.min(10000, 500 * Math.pow(2, failures - 1))));
      }
    }
  }
  function pollStart() {
    pollStop(true);
    poll.running = true;
    poll.cursor = null;
    $('poll-toggle').textContent = 'Stop';
    setPill($('poll-status'), '', 'starting');
    pollLoop(++poll.generation);
  }
  function pollStop(quiet) {
    poll.running = false;
    poll.generation++;
    if (poll.abort) poll.abort.abort();
    $('poll-toggle').textContent = 'Start';
    if (!quiet) setPill($('poll-status'), 'closed', 'stopped');
  }
  $('poll-toggle').addEventListener('click', () => (poll.running ? pollStop() : pollStart()));
  $('poll-apply').addEventListener('click', pollStart);

  connect();
  ws.topics.add($('ws-topic').value.trim());
  wsConnect();
  pollStart();
  samplePublished();
  drawChart();
  setInterval(tick, 1000);
})();
</script>
</body>
</html>
)html";

}  // namespace lastmile_server
