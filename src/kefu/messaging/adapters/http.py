"""A generic HTTP SMS provider.

Request — ``POST KEFU_SMS_HTTP_URL`` with a JSON body::

    {"message_id": "<idempotency key>", "to": "+8613812341234", "body": "…", "sender_id": "kefu",
     "tenant_id": "<uuid>", "purpose": "survey", "status_callback": "https://…/delivery" | null}

and headers ``Idempotency-Key: <key>`` (the provider must not send a key twice),
``X-Kefu-Timestamp: <unix seconds>`` and ``X-Kefu-Signature: v1=<hex HMAC-SHA256>`` over
``<timestamp>.<url path>.<raw body>`` with ``KEFU_SMS_HTTP_SECRET`` (the same scheme signs the
provider's callbacks to us, see :mod:`kefu.messaging.api`).

Response — any 2xx, optionally with JSON ``{"id": "<provider message id>", "status": "sent" |
"delivered"}``; without an id the idempotency key stands in for it.

Errors — a timeout, a connection failure, 5xx, 408 and 429 are transient (the relay retries with
backoff); any other 4xx is permanent (the message goes ``dead``).
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from kefu.messaging.port import OutgoingSms, PermanentSmsError, SendResult, TransientSmsError
from kefu.messaging.rules import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, mask_numbers_in_text, sign

PROVIDER = "http"
TRANSIENT_4XX = frozenset({408, 425, 429})


class HttpSmsAdapter:
    name = PROVIDER

    def __init__(
        self, url: str, secret: str, *, timeout: float = 10.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.url = url
        self._secret = secret.encode()
        self._path = urlsplit(url).path or "/"
        self.timeout = timeout
        self._transport = transport

    def request_for(self, message: OutgoingSms, *, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
        """The exact body and headers sent for ``message`` (public for tests and provider authors)."""
        body = json.dumps(
            {
                "message_id": message.idempotency_key,
                "to": message.to_number,
                "body": message.body,
                "sender_id": message.sender_id,
                "tenant_id": str(message.tenant_id),
                "purpose": message.purpose,
                "status_callback": message.status_callback,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        ts = str(int(time.time()) if timestamp is None else timestamp)
        headers = {
            "content-type": "application/json",
            IDEMPOTENCY_HEADER: message.idempotency_key,
            TIMESTAMP_HEADER: ts,
            SIGNATURE_HEADER: sign(self._secret, ts, self._path, body),
        }
        return body, headers

    async def send(self, message: OutgoingSms) -> SendResult:
        body, headers = self.request_for(message)
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout, transport=self._transport, follow_redirects=False
            ) as client:
                response = await client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise TransientSmsError(f"the SMS provider did not answer within {self.timeout:g} s") from None
        except httpx.TransportError as exc:
            raise TransientSmsError(f"could not reach the SMS provider: {type(exc).__name__}") from None
        status = response.status_code
        if status >= 500 or status in TRANSIENT_4XX:
            raise TransientSmsError(f"the SMS provider answered {status}: {_snippet(response)}")
        if status >= 400:
            raise PermanentSmsError(f"the SMS provider refused the message ({status}): {_snippet(response)}")
        if not 200 <= status < 300:
            raise PermanentSmsError(f"unexpected answer {status} from the SMS provider")
        data = _json(response)
        provider_id = str(data.get("id") or data.get("provider_message_id") or message.idempotency_key)[:100]
        if data.get("status") == "delivered":
            return SendResult(provider=PROVIDER, provider_message_id=provider_id, status="delivered")
        return SendResult(provider=PROVIDER, provider_message_id=provider_id, status="sent")


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _snippet(response: httpx.Response) -> str:
    text = mask_numbers_in_text(response.text.strip().replace("\n", " "))  # errors are shown to staff
    return text[:200] or response.reason_phrase
