// Helpers shared by the interop tests: start/stop/restart lastmile-server, publish
// over REST, a TCP proxy that can cut every connection on demand, and small waits.
// Only loopback addresses are used.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// Tests may replace globalThis.fetch (to steer a page's code); the helpers keep the real one.
const nativeFetch = globalThis.fetch;

export const repoRoot = path.resolve(here, '..', '..');

export function serverBinary() {
  const bin = process.env.LASTMILE_SERVER
    ? path.resolve(process.env.LASTMILE_SERVER)
    : path.join(repoRoot, 'build', 'examples', 'server', 'lastmile-server');
  if (!existsSync(bin)) {
    throw new Error(`lastmile-server not found at ${bin} (build it, or set LASTMILE_SERVER)`);
  }
  return bin;
}

function launch(bin, listen, extraArgs, timeoutMs) {
  return new Promise((resolve, reject) => {
    // Webhook state stays in memory unless a test asks otherwise: no database
    // file is left behind in the working directory.
    const store = extraArgs.includes('--webhook-store') ? [] : ['--webhook-store', 'memory'];
    const proc = spawn(bin, ['--listen', listen, ...store, ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let settled = false;
    const finish = (err, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        proc.kill('SIGKILL');
        reject(err);
      } else {
        resolve(value);
      }
    };
    const timer = setTimeout(
      () => finish(new Error(`lastmile-server did not print its listening line in ${timeoutMs} ms; stderr: ${stderr}`)),
      timeoutMs,
    );
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => {
      stderr += d;
      if (process.env.LASTMILE_SERVER_VERBOSE) process.stderr.write(d);
    });
    proc.on('error', (e) => finish(e));
    proc.on('exit', (code, signal) =>
      finish(new Error(`lastmile-server exited (code ${code}, signal ${signal}) before listening: ${stderr.trim()}`)),
    );
    const lines = readline.createInterface({ input: proc.stdout });
    lines.on('line', (line) => {
      const m = /^listening on (http:\/\/127\.0\.0\.1:(\d+))\s*$/.exec(line);
      if (m) finish(null, { proc, url: m[1], port: Number(m[2]) });
    });
  });
}

function stopProcess(proc, timeoutMs = 10_000) {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`lastmile-server did not stop within ${timeoutMs} ms of SIGTERM`));
    }, timeoutMs);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    proc.kill('SIGTERM');
  });
}

// Starts lastmile-server on 127.0.0.1 with an ephemeral port (plus extraArgs).
// Returns { url, port, publish(topic, type, payload), stop(), restart() }.
// restart() stops it and starts it again on the same port with the same flags (a
// memory log starts empty again: cursors of the old process are then another epoch).
export async function startServer(extraArgs = [], { timeoutMs = 15_000 } = {}) {
  const bin = serverBinary();
  let current = await launch(bin, '127.0.0.1:0', extraArgs, timeoutMs);
  const server = {
    get url() { return current.url; },
    get port() { return current.port; },
    get process() { return current.proc; },
    publish: (topic, type, payload) => publish(current.url, topic, type, payload),
    async stop() {
      const code = await stopProcess(current.proc);
      if (code !== 0) throw new Error(`lastmile-server exited with code ${code} on SIGTERM`);
    },
    async restart() {
      await server.stop();
      let lastError;
      for (let i = 0; i < 20; i++) {  // the port may take a moment to be free again
        try {
          current = await launch(bin, `127.0.0.1:${current.port}`, extraArgs, timeoutMs);
          return server;
        } catch (e) {
          lastError = e;
          await sleep(100);
        }
      }
      throw lastError;
    },
  };
  return server;
}

// POST /topics/{topic}/events?type=T with the payload as body; returns the new id.
export async function publish(baseUrl, topic, type, payload) {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const url = `${baseUrl}/topics/${encodeURIComponent(topic)}/events?type=${encodeURIComponent(type)}`;
  const res = await nativeFetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`publish: expected 201, got ${res.status}: ${text}`);
  const { id } = JSON.parse(text);
  if (typeof id !== 'string' || id.length === 0) throw new Error(`publish: no id in ${text}`);
  return id;
}

// A TCP proxy on 127.0.0.1 that forwards to targetPort and records what clients send.
// cutAll() destroys every open connection on both sides (a network drop seen by the
// client mid-stream); requests() lists the HTTP request heads clients sent so far.
export async function startProxy(targetPort) {
  const pairs = new Set();
  const sent = [];  // per accepted connection: everything the client sent, as text
  const server = net.createServer((client) => {
    const record = { data: '' };
    sent.push(record);
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    const pair = { client, upstream };
    pairs.add(pair);
    client.on('data', (d) => { record.data += d.toString('latin1'); });
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = server.address().port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get openConnections() { return pairs.size; },
    cutAll() {
      const n = pairs.size;
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      return n;
    },
    // [{ method, target, headers: {lowercased name: value} }] in the order received.
    requests() {
      const out = [];
      for (const { data } of sent) {
        const re = /(GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH) (\S+) HTTP\/1\.[01]\r\n([\s\S]*?)\r\n\r\n/g;
        let m;
        while ((m = re.exec(data))) {
          const headers = {};
          for (const line of m[3].split('\r\n')) {
            const i = line.indexOf(':');
            if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
          }
          out.push({ method: m[1], target: m[2], headers });
        }
      }
      return out;
    },
    close() {
      this.cutAll();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls predicate() every intervalMs until it is truthy; throws after timeoutMs
// (`what`, a string or a function returning one, describes what was awaited).
export async function waitFor(predicate, { timeoutMs = 20_000, intervalMs = 20, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await predicate();
    if (v) return v;
    if (Date.now() > deadline) {
      const detail = typeof what === 'function' ? await what() : what;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${detail}`);
    }
    await sleep(intervalMs);
  }
}
