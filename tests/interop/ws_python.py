#!/usr/bin/env python3
"""Interop: the Python `websockets` client (Debian python3-websockets) against a
spawned lastmile-server.

Subscribes, publishes over REST and receives the events, checks that
permessage-deflate was negotiated (websockets offers it by default), publishes over
the WebSocket itself, then drops the connection, publishes more, reconnects with
?resumeFrom=<last id seen> and checks it gets exactly the missed events. Then the
same server binary with --tls-cert/--tls-key (a self-signed certificate made with
the openssl command line, skipped when that is missing): wss:// with certificate
verification, compression, an event and a clean close.

usage: ws_python.py [path/to/lastmile-server]   (default: build/examples/server/lastmile-server,
       or $LASTMILE_SERVER). Exit status 0 on success, 77 when websockets is missing.
"""
import asyncio
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import urllib.request

try:
    import websockets
except ImportError:
    # A pyenv or venv python may shadow Debian's, which has the package.
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3", *sys.argv])
    print("ws_python: the websockets package is missing (apt-get install python3-websockets)", file=sys.stderr)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def server_binary():
    if len(sys.argv) > 1:
        return sys.argv[1]
    return os.environ.get("LASTMILE_SERVER", os.path.join(ROOT, "build", "examples", "server", "lastmile-server"))


def start_server(extra_args=(), scheme="http"):
    store = [] if "--webhook-store" in extra_args else ["--webhook-store", "memory"]  # no stray database file
    proc = subprocess.Popen([server_binary(), "--listen", "127.0.0.1:0", *store, *extra_args],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.match(rf"^listening on ({scheme}://127\.0\.0\.1:(\d+))\s*$", line)
    if not m:
        proc.kill()
        raise SystemExit(f"ws_python: no startup line from lastmile-server: {line!r}")
    return proc, m.group(1), int(m.group(2))


def stop_server(proc):
    proc.terminate()
    try:
        rc = proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    if rc != 0:
        raise SystemExit(f"ws_python: lastmile-server exited with {rc}")


def publish(base, topic, payload, type_="created", context=None):
    req = urllib.request.Request(f"{base}/topics/{topic}/events?type={type_}", data=payload.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=5, context=context) as res:
        assert res.status == 201, res.status
        return json.loads(res.read())["id"]


async def recv_json(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def expect_silence(ws, seconds=0.3):
    try:
        extra = await asyncio.wait_for(ws.recv(), seconds)
    except asyncio.TimeoutError:
        return
    raise AssertionError(f"unexpected message: {extra}")


async def run(base, port):
    url = f"ws://127.0.0.1:{port}/ws"
    seen = []
    async with websockets.connect(url) as ws:
        ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        assert ext.startswith("permessage-deflate"), f"permessage-deflate not negotiated: {ext!r}"
        assert any(e.name == "permessage-deflate" for e in ws.extensions), ws.extensions

        await ws.send(json.dumps({"type": "subscribe", "topic": "orders"}))
        assert await recv_json(ws) == {"type": "subscribed", "topic": "orders"}

        ids = [publish(base, "orders", json.dumps({"order": i})) for i in range(5)]
        publish(base, "other", "not for us")
        for i, id_ in enumerate(ids):
            m = await recv_json(ws)
            assert m["topic"] == "orders", m
            assert m["event"]["id"] == id_ and m["event"]["type"] == "created", m
            assert m["event"]["data"] == {"order": i}, m
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", m["event"]["time"]), m
            seen.append(id_)

        # A big, compressible event goes through the compressed path.
        big = json.dumps({"items": ["the same words again"] * 500})
        seen.append(publish(base, "orders", big))
        m = await recv_json(ws)
        assert m["event"]["id"] == seen[-1] and m["event"]["data"] == json.loads(big)

        # Publishing over the socket (compressed by the client) and a control ping.
        await ws.send(json.dumps({"type": "publish", "topic": "orders", "event": "ws", "data": [1, "x"]}))
        published = await recv_json(ws)
        assert published["type"] == "published", published
        m = await recv_json(ws)
        assert m["event"]["id"] == published["id"] and m["event"]["type"] == "ws" and m["event"]["data"] == [1, "x"]
        seen.append(published["id"])
        await ws.send(json.dumps({"type": "ping"}))
        assert await recv_json(ws) == {"type": "pong"}
        await ws.send("{oops")
        err = await recv_json(ws)
        assert err["type"] == "error" and err["code"] == "bad_request", err
        await ws.ping(b"abc")  # protocol-level ping/pong
    assert ws.close_code == 1000, ws.close_code

    # Missed while disconnected: exactly these come back on reconnect.
    missed = [publish(base, "orders", f"missed {i}") for i in range(4)]
    async with websockets.connect(f"{url}?resumeFrom={seen[-1]}") as ws:
        await ws.send(json.dumps({"type": "subscribe", "topic": "orders"}))
        assert await recv_json(ws) == {"type": "subscribed", "topic": "orders"}
        got = [(await recv_json(ws))["event"]["id"] for _ in missed]
        assert got == missed, (got, missed)
        await expect_silence(ws)

    # A malformed resumeFrom is refused before the upgrade.
    try:
        async with websockets.connect(f"{url}?resumeFrom=bogus"):
            raise AssertionError("a bad resumeFrom was accepted")
    except websockets.exceptions.InvalidStatusCode as e:
        assert e.status_code == 400, e


async def run_tls(base, port, context):
    async with websockets.connect(f"wss://127.0.0.1:{port}/ws", ssl=context) as ws:
        ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        assert ext.startswith("permessage-deflate"), f"permessage-deflate not negotiated over TLS: {ext!r}"
        await ws.send(json.dumps({"type": "subscribe", "topic": "secure.*"}))
        assert await recv_json(ws) == {"type": "subscribed", "topic": "secure.*"}
        big = json.dumps({"items": ["over tls"] * 400})
        id_ = publish(base, "secure.a", big, context=context)
        m = await recv_json(ws)
        assert m["topic"] == "secure.a" and m["event"]["id"] == id_ and m["event"]["data"] == json.loads(big), m
        await ws.send(json.dumps({"type": "publish", "topic": "secure.b", "data": "from wss"}))
        published = await recv_json(ws)
        assert published["type"] == "published", published
        m = await recv_json(ws)
        assert m["event"]["id"] == published["id"] and m["event"]["data"] == "from wss", m
    assert ws.close_code == 1000, ws.close_code
    # The certificate is checked: a context that does not trust it fails the handshake.
    try:
        async with websockets.connect(f"wss://127.0.0.1:{port}/ws", ssl=ssl.create_default_context()):
            raise AssertionError("an untrusted certificate was accepted")
    except ssl.SSLCertVerificationError:
        pass


def tls_checks():
    openssl = shutil.which("openssl")
    if not openssl:
        print("ws_python: no openssl command, wss:// not checked", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory(prefix="lastmile-wss-") as tmp:
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key, "-out", cert],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        context = ssl.create_default_context(cafile=cert)
        proc, base, port = start_server(["--tls-cert", cert, "--tls-key", key], scheme="https")
        try:
            asyncio.run(run_tls(base, port, context))
        finally:
            stop_server(proc)


def main():
    proc, base, port = start_server()
    try:
        asyncio.run(run(base, port))
    finally:
        stop_server(proc)
    tls_checks()
    print("ws_python: ok")


if __name__ == "__main__":
    main()
