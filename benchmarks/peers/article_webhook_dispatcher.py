#!/usr/bin/env python3
"""The seed article's webhook dispatcher (httpx.AsyncClient, asyncio.gather over the
subscriptions of an event, HMAC-SHA256 hex signature, exponential backoff), driven the
way that article drives it: one dispatch() per event, awaited in turn.

  article_webhook_dispatcher.py URL ENDPOINTS EVENTS
Subscriptions are URL/0 .. URL/<ENDPOINTS-1>. Prints "deliveries=N seconds=S rate=R".
Peer for benchmarks/run-webhook-bench; requires Debian python3-httpx."""
import asyncio
import hashlib
import hmac
import json
import sys
import time
from dataclasses import dataclass

import httpx


@dataclass
class WebhookSubscription:
    url: str
    secret: str
    events: list


class WebhookDispatcher:
    def __init__(self, max_retries=5):
        self.subscriptions = []
        self.max_retries = max_retries
        self.client = httpx.AsyncClient(timeout=10.0)
        self.delivered = 0

    async def dispatch(self, event_type, payload):
        tasks = []
        for sub in self.subscriptions:
            if event_type in sub.events:
                tasks.append(self.deliver(sub, event_type, payload))
        await asyncio.gather(*tasks, return_exceptions=True)

    async def deliver(self, sub, event_type, payload):
        body = json.dumps(payload)
        signature = hmac.new(sub.secret.encode(), body.encode(), hashlib.sha256).hexdigest()
        headers = {
            'Content-Type': 'application/json',
            'X-Event-Type': event_type,
            'X-Signature': f'sha256={signature}',
            # the shared test receiver de-duplicates by webhook-id; give it one
            'webhook-id': f"{payload['n']}",
        }
        for attempt in range(self.max_retries):
            try:
                response = await self.client.post(sub.url, content=body, headers=headers)
                if response.status_code < 300:
                    self.delivered += 1
                    return
                if response.status_code >= 500:
                    raise Exception(f"Server error: {response.status_code}")
                return
            except Exception:
                delay = min(2 ** attempt, 60)
                await asyncio.sleep(delay)


async def main():
    url, endpoints, events = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    d = WebhookDispatcher()
    for i in range(endpoints):
        d.subscriptions.append(WebhookSubscription(f"{url}/{i}", "secret", ["created"]))
    payload_pad = "x" * 64
    start = time.monotonic()
    for n in range(events):
        await d.dispatch("created", {"n": n, "pad": payload_pad})
    seconds = time.monotonic() - start
    await d.client.aclose()
    print(f"deliveries={d.delivered} seconds={seconds:.3f} rate={d.delivered / seconds:.1f}")


asyncio.run(main())
