"""Provider callbacks: authenticated only by an HMAC signature; bad requests change nothing."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from kefu.messaging.rules import sign
from messaging.sms_support import SECRET, at, load, queue

pytestmark = pytest.mark.settings(sms_http_secret=SECRET)


def signed(
    path: str, payload: Any, *, timestamp: int | None = None, secret: str = SECRET, sign_path: str | None = None
) -> dict[str, Any]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "content": body,
        "headers": {
            "content-type": "application/json",
            "X-Kefu-Timestamp": ts,
            "X-Kefu-Signature": sign(secret.encode(), ts, sign_path or path, body),
        },
    }


DELIVERY = "/api/v1/sms/callbacks/acme/delivery"
INBOUND = "/api/v1/sms/callbacks/acme/inbound"


@pytest.fixture
async def sent(world, ctx, acme, relay):
    message = await queue(world, acme, expects_reply=True, purpose="test_reply")
    await relay.run_once(at(ctx))
    return await load(world, acme, message.id)


async def _problem(r: Any, status: int, words: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert words.lower() in r.json()["detail"].lower(), r.json()


async def test_a_signed_delivery_report_marks_the_message_delivered(world, client, acme, sent):
    r = await client.post(
        DELIVERY, **signed(DELIVERY, {"provider_message_id": sent.provider_message_id, "status": "delivered"})
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": True, "id": str(sent.id), "status": "delivered"}
    assert (await load(world, acme, sent.id)).status == "delivered"


async def test_a_signed_inbound_message_is_stored_matched_and_idempotent(world, client, acme, sent):
    payload = {"provider_message_id": "in-77", "from_number": "+8613812341234", "body": "5"}
    r = await client.post(INBOUND, **signed(INBOUND, payload))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "no_handler"
    again = await client.post(INBOUND, **signed(INBOUND, payload))
    assert again.json()["id"] == r.json()["id"]
    admin = await world.login(acme)
    listed = (await admin.get("/api/v1/t/acme/sms/inbound")).json()["items"]
    assert [(i["from_number"], i["matched_message_id"], i["body"]) for i in listed] == [
        ("138****1234", str(sent.id), "5")
    ]


@pytest.mark.parametrize("case", ["missing", "wrong-secret", "tampered", "other-tenant", "garbage", "no-timestamp"])
async def test_bad_signatures_get_401_and_change_nothing(world, client, acme, sent, case):
    beta = await world.tenant("beta")
    payload = {"provider_message_id": sent.provider_message_id, "status": "delivered"}
    request = signed(DELIVERY, payload)
    if case == "missing":
        del request["headers"]["X-Kefu-Signature"]
    elif case == "wrong-secret":
        request = signed(DELIVERY, payload, secret="not-the-secret-at-all-0123456789")
    elif case == "tampered":
        request["content"] = json.dumps({**payload, "status": "undelivered"}).encode()
    elif case == "other-tenant":  # a valid signature for beta's URL replayed on acme's
        request = signed(DELIVERY, payload, sign_path="/api/v1/sms/callbacks/beta/delivery")
    elif case == "garbage":
        request["headers"]["X-Kefu-Signature"] = "v1=" + "0" * 64
    elif case == "no-timestamp":
        del request["headers"]["X-Kefu-Timestamp"]
    before = await world.digest([acme.id, beta.id])
    r = await client.post(DELIVERY, **request)
    await _problem(r, 401, "missing" if case in ("missing", "no-timestamp") else "signature does not match")
    assert r.json()["type"].endswith("/bad-signature")
    assert await world.digest([acme.id, beta.id]) == before


@pytest.mark.parametrize("skew", [-301, 301, -86400])
async def test_stale_or_future_timestamps_are_refused_as_replays(world, ctx, client, acme, sent, skew):
    before = await world.digest([acme.id])
    payload = {"provider_message_id": sent.provider_message_id, "status": "delivered"}
    r = await client.post(DELIVERY, **signed(DELIVERY, payload, timestamp=int(ctx.clock.now()) + skew))
    await _problem(r, 401, "replayed")
    r = await client.post(
        INBOUND,
        **signed(
            INBOUND,
            {"provider_message_id": "in-1", "from_number": "13812341234", "body": "1"},
            timestamp=int(ctx.clock.now()) + skew,
        ),
    )
    await _problem(r, 401, "replayed")
    assert await world.digest([acme.id]) == before


async def test_unknown_tenant_and_unknown_message_are_404(world, client, acme, sent):
    before = await world.digest([acme.id])
    path = "/api/v1/sms/callbacks/nobody/delivery"
    r = await client.post(
        path, **signed(path, {"provider_message_id": sent.provider_message_id, "status": "delivered"})
    )
    await _problem(r, 404, "no organisation")
    path = "/api/v1/sms/callbacks/nobody/inbound"
    r = await client.post(path, **signed(path, {"provider_message_id": "x", "from_number": "13812341234"}))
    await _problem(r, 404, "no organisation")
    r = await client.post(DELIVERY, **signed(DELIVERY, {"provider_message_id": "prov-nope", "status": "delivered"}))
    await _problem(r, 404, "prov-nope")
    assert await world.digest([acme.id]) == before


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        (DELIVERY, b"{not json", "not valid JSON"),
        (DELIVERY, b"[1, 2]", "JSON object"),
        (DELIVERY, {"provider_message_id": "p"}, "'status' is required"),
        (DELIVERY, {"provider_message_id": "p", "status": "delivered", "colour": "red"}, "Unknown field 'colour'"),
        (DELIVERY, {"provider_message_id": "p", "status": "exploded"}, "Unknown delivery status"),
        (INBOUND, {"provider_message_id": "p", "from_number": "not a phone", "body": "1"}, "not a phone number"),
        (INBOUND, {"provider_message_id": "p", "from_number": "13812341234", "body": "x" * 1601}, "'body'"),
        (INBOUND, {"from_number": "13812341234", "body": "1"}, "'provider_message_id' is required"),
    ],
)
async def test_malformed_bodies_get_422_and_change_nothing(world, client, acme, sent, path, body, words):
    before = await world.digest([acme.id])
    r = await client.post(path, **signed(path, body))
    await _problem(r, 422, words)
    assert await world.digest([acme.id]) == before


@pytest.mark.settings()
async def test_callbacks_are_refused_when_no_secret_is_configured(world, client, acme):
    before = await world.digest([acme.id])
    r = await client.post(DELIVERY, **signed(DELIVERY, {"provider_message_id": "p", "status": "delivered"}))
    await _problem(r, 401, "KEFU_SMS_HTTP_SECRET")
    assert r.json()["type"].endswith("/callbacks-disabled")
    assert await world.digest([acme.id]) == before


async def test_a_user_session_does_not_authenticate_a_callback(world, acme, sent):
    admin = await world.login(acme)
    r = await admin.post(DELIVERY, json={"provider_message_id": sent.provider_message_id, "status": "delivered"})
    await _problem(r, 401, "missing")
    assert (await load(world, acme, sent.id)).status == "sent"
