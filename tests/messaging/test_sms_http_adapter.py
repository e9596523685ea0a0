"""The generic HTTP provider adapter, against a real HTTP server on a free local port."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from kefu.messaging import OutgoingSms, PermanentSmsError, TransientSmsError
from kefu.messaging.adapters.http import HttpSmsAdapter
from kefu.messaging.relay import OutboxRelay
from kefu.messaging.rules import signature_problem
from messaging.sms_support import SECRET, at, load, queue


class FakeProvider:
    """A tiny SMS provider: records each request and answers from a script."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[Any] = []
        self.url = ""

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        self.requests.append({"headers": dict(request.headers), "body": body, "path": request.url.path})
        action = self.script.pop(0) if self.script else (200, {"id": f"prov-{len(self.requests)}", "status": "sent"})
        if action[0] == "sleep":
            await asyncio.sleep(action[1])
            action = (200, {"id": "too-late"})
        status, payload = action
        if isinstance(payload, str):
            return PlainTextResponse(payload, status_code=status)
        return JSONResponse(payload, status_code=status)


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    fake = FakeProvider()
    app = Starlette(routes=[Route("/v1/sms", fake.endpoint, methods=["POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "the fake provider did not start"
    fake.url = f"http://127.0.0.1:{port}/v1/sms"
    try:
        yield fake
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        sock.close()


def _message(**kw: Any) -> OutgoingSms:
    values: dict[str, Any] = {
        "message_id": uuid.uuid4(),
        "tenant_id": uuid.uuid4(),
        "to_number": "+8613812341234",
        "body": "您有一个未接来电",
        "sender_id": "kefu",
        "purpose": "missed_call_notice",
        "status_callback": "http://kefu.example/api/v1/sms/callbacks/acme/delivery",
    }
    values.update(kw)
    return OutgoingSms(**values)


async def test_a_send_is_signed_idempotent_and_returns_the_providers_id(provider):
    adapter = HttpSmsAdapter(provider.url, SECRET, timeout=5)
    message = _message()
    result = await adapter.send(message)
    assert (result.provider, result.provider_message_id, result.status) == ("http", "prov-1", "sent")
    [request] = provider.requests
    headers, body = request["headers"], request["body"]
    assert headers["idempotency-key"] == str(message.message_id)
    assert abs(int(headers["x-kefu-timestamp"]) - time.time()) < 60
    assert (
        signature_problem(
            SECRET.encode(),
            signature=headers["x-kefu-signature"],
            timestamp=headers["x-kefu-timestamp"],
            path="/v1/sms",
            body=body,
            now=time.time(),
            tolerance=300,
        )
        is None
    )
    assert (
        signature_problem(
            b"another secret",
            signature=headers["x-kefu-signature"],
            timestamp=headers["x-kefu-timestamp"],
            path="/v1/sms",
            body=body,
            now=time.time(),
            tolerance=300,
        )
        is not None
    )
    sent = json.loads(body)
    assert sent == {
        "message_id": str(message.message_id),
        "to": "+8613812341234",
        "body": "您有一个未接来电",
        "sender_id": "kefu",
        "tenant_id": str(message.tenant_id),
        "purpose": "missed_call_notice",
        "status_callback": "http://kefu.example/api/v1/sms/callbacks/acme/delivery",
    }


async def test_a_resend_after_staff_retry_carries_a_new_key(provider):
    adapter = HttpSmsAdapter(provider.url, SECRET)
    message = _message(generation=2)
    await adapter.send(message)
    assert provider.requests[0]["headers"]["idempotency-key"] == f"{message.message_id}.2"


async def test_delivered_answers_and_answers_without_an_id(provider):
    adapter = HttpSmsAdapter(provider.url, SECRET)
    provider.script = [(200, {"id": "p-9", "status": "delivered"}), (202, "queued")]
    assert (await adapter.send(_message())).status == "delivered"
    message = _message()
    result = await adapter.send(message)
    assert (result.provider_message_id, result.status) == (str(message.message_id), "sent")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, TransientSmsError),
        (502, TransientSmsError),
        (503, TransientSmsError),
        (429, TransientSmsError),
        (408, TransientSmsError),
        (400, PermanentSmsError),
        (401, PermanentSmsError),
        (422, PermanentSmsError),
    ],
)
async def test_5xx_and_throttling_are_transient_other_4xx_permanent(provider, status, error):
    provider.script = [(status, {"error": "invalid number 13812341234"})]
    with pytest.raises(error) as raised:
        await HttpSmsAdapter(provider.url, SECRET).send(_message())
    assert str(status) in str(raised.value)
    assert "13812341234" not in str(raised.value) and "138****1234" in str(raised.value)


async def test_a_timeout_is_transient(provider):
    provider.script = [("sleep", 2.0)]
    started = time.monotonic()
    with pytest.raises(TransientSmsError, match=r"did not answer within 0\.3 s"):
        await HttpSmsAdapter(provider.url, SECRET, timeout=0.3).send(_message())
    assert time.monotonic() - started < 1.9


async def test_an_unreachable_provider_is_transient():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(TransientSmsError, match="could not reach"):
        await HttpSmsAdapter(f"http://127.0.0.1:{port}/v1/sms", SECRET, timeout=2).send(_message())


async def test_the_relay_retries_through_the_http_adapter_with_one_key(world, ctx, provider):
    acme = await world.tenant("acme")
    message = await queue(world, acme, body="回访：请回复1-5评价")
    provider.script = [(503, "maintenance"), (200, {"id": "prov-ok", "status": "sent"})]
    relay = OutboxRelay(ctx, HttpSmsAdapter(provider.url, SECRET, timeout=5), seed=1, concurrency=1)
    assert await relay.run_once(at(ctx)) == 1
    row = await load(world, acme, message.id)
    assert (row.status, row.last_error) == ("failed", "the SMS provider answered 503: maintenance")
    assert await relay.run_once(row.next_attempt_at) == 1
    row = await load(world, acme, message.id)
    assert (row.status, row.provider, row.provider_message_id) == ("sent", "http", "prov-ok")
    keys = {r["headers"]["idempotency-key"] for r in provider.requests}
    assert keys == {str(message.id)} and len(provider.requests) == 2
    assert json.loads(provider.requests[0]["body"])["status_callback"].endswith("/api/v1/sms/callbacks/acme/delivery")
