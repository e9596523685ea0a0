"""Messaging domain: the SMS outbox, its relay, provider adapters, replies and delivery reports.

Other domains use only what is exported here:

* :func:`queue_sms` — put an SMS in the outbox in *your* transaction (sent after commit, never if
  it rolls back); ``dedupe_key`` makes queueing idempotent.
* :func:`sent_recently` — "was an SMS with this purpose queued for this number since T?"
  (per-caller windows; race-free within the caller's transaction).
* :func:`register_reply_handler` — get replies to your messages (``expects_reply=True``):
  ``async handler(session, tenant, inbound: InboundSms, original: SmsMessage)``.
* :func:`do_receive_inbound`, :func:`do_record_delivery` — what provider callbacks call.

See :mod:`kefu.messaging.relay` for how each message reaches the provider exactly once.
"""

from kefu.messaging.actions import (
    InboundSms,
    ReplyHandler,
    do_receive_inbound,
    do_record_delivery,
    do_retry_sms,
    queue_sms,
    register_reply_handler,
    reply_handler_for,
    sent_recently,
    unregister_reply_handler,
)
from kefu.messaging.models import SmsInbound, SmsMessage
from kefu.messaging.port import OutgoingSms, PermanentSmsError, SendResult, SmsPort, TransientSmsError
from kefu.messaging.rules import KNOWN_PURPOSES, MAX_BODY_CHARS, InboundStatus, SmsStatus

__all__ = [
    "KNOWN_PURPOSES",
    "MAX_BODY_CHARS",
    "InboundSms",
    "InboundStatus",
    "OutgoingSms",
    "PermanentSmsError",
    "ReplyHandler",
    "SendResult",
    "SmsInbound",
    "SmsMessage",
    "SmsPort",
    "SmsStatus",
    "TransientSmsError",
    "do_receive_inbound",
    "do_record_delivery",
    "do_retry_sms",
    "queue_sms",
    "register_reply_handler",
    "reply_handler_for",
    "sent_recently",
    "unregister_reply_handler",
]
