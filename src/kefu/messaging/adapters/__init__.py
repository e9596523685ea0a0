"""SMS provider adapters (the only modules here that talk to the outside world).

* :mod:`~kefu.messaging.adapters.logfile` — default: a JSON-lines file standing in for a provider.
* :mod:`~kefu.messaging.adapters.http` — a generic HTTP provider with signed requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kefu.messaging.port import SmsPort
    from kefu.settings import Settings


def build_sms_port(settings: Settings) -> SmsPort:
    """The adapter ``KEFU_SMS_PROVIDER`` names (called once, by ``kefu.bootstrap``)."""
    if settings.sms_provider == "http":
        from kefu.messaging.adapters.http import HttpSmsAdapter

        assert settings.sms_http_url and settings.sms_http_secret  # checked by Settings
        return HttpSmsAdapter(
            settings.sms_http_url,
            settings.sms_http_secret.get_secret_value(),
            timeout=settings.sms_http_timeout_seconds,
        )
    from kefu.messaging.adapters.logfile import LogFileSmsAdapter

    return LogFileSmsAdapter(
        settings.data_dir / "sms" / "outbox.jsonl", delay_seconds=settings.sms_logfile_delay_seconds
    )
