"""One typed settings object, read once from ``KEFU_*`` environment variables.

Every process builds exactly one :class:`Settings` in its composition root
(``kefu.bootstrap``) and passes it down; nothing else reads the environment.
"""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEFU_", extra="ignore", frozen=True)

    #: Where the embedded database, the generated secret key, recordings and
    #: exports live. Created on first use.
    data_dir: Path = Path("var")
    #: SQLAlchemy URL the application connects with. Default: an SQLite file in
    #: ``data_dir``. For PostgreSQL use ``postgresql+asyncpg://kefu_app@host/db``
    #: with a role that is neither the tables' owner nor a superuser.
    database_url: str | None = None
    #: URL used by ``kefu db upgrade`` (the owner of the tables). Defaults to
    #: ``database_url``.
    database_owner_url: str | None = None
    #: PostgreSQL role the application connects as; migrations grant it DML and
    #: nothing else.
    database_app_role: str = "kefu_app"
    #: Refuse to serve on PostgreSQL as a superuser / BYPASSRLS / owner role
    #: unless this is set (row-level security would not protect tenants).
    allow_privileged_database_role: bool = False
    #: Signs audit-chain checkpoints and derives encryption keys. If unset, a
    #: random key is generated once and kept in ``data_dir/secret_key``.
    secret_key: SecretStr | None = None
    #: ``host:port`` for ``kefu serve`` / ``kefu demo``.
    listen: str = "127.0.0.1:8000"
    #: Public base URL (printed by the demo, used in links). Default from listen.
    base_url: str | None = None
    environment: Literal["production", "development", "test"] = "production"

    #: Telephony connection: the in-process simulated PBX (demo, tests, what-if), or none.
    telephony: Literal["simulated", "none"] = "simulated"
    #: Run the demo's simulated callers and agents (set by ``kefu demo``; benchmarks use it for load).
    demo_call_center: bool = False
    demo_tenant: str = "demo"
    demo_number: str = "4008123456"
    #: Fixed arrival rate; unset follows the demo's intraday profile.
    demo_call_rate_per_minute: float | None = Field(default=None, gt=0, le=100_000)
    demo_talk_seconds: float = Field(default=100.0, gt=0)
    demo_patience_seconds: float = Field(default=150.0, gt=0)
    #: Agents left to people at a browser; every other agent with a profile is simulated.
    demo_human_agents: list[str] = Field(default_factory=lambda: ["agent1", "banzhang"])
    #: Start the background services (SMS relay, SLA scheduler, router host …) with the web server.
    run_background_services: bool = True

    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    session_idle_minutes: int = Field(default=60, ge=1)
    session_absolute_hours: int = Field(default=12, ge=1)
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)
    #: Attempts per client address per minute on login endpoints.
    login_rate_per_minute: int = Field(default=30, ge=1)
    #: Argon2id parameters (OWASP: m=19 MiB, t=2, p=1). Tests lower them.
    password_hash_memory_kib: int = Field(default=19_456, ge=8)
    password_hash_time_cost: int = Field(default=2, ge=1)
    cookie_secure: bool = False
    default_locale: Literal["zh_CN", "en"] = "zh_CN"

    # SMS (kefu.messaging): the outbox relay and its provider adapter.
    #: ``logfile`` appends every message, with the full number, to ``data_dir/sms/outbox.jsonl``
    #: (stands in for a provider in development, tests and the demo); ``http`` posts to a provider.
    sms_provider: Literal["logfile", "http"] = "logfile"
    #: The generic HTTP provider's send endpoint (``KEFU_SMS_PROVIDER=http``).
    sms_http_url: str | None = None
    #: Shared secret for HMAC-SHA256 signatures on requests to the provider and on its callbacks.
    #: Provider callbacks are refused while it is unset.
    sms_http_secret: SecretStr | None = None
    sms_http_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    #: Sender id (signature / short code) put on outgoing messages unless the caller names one.
    sms_sender_id: str = Field(default="kefu", min_length=1, max_length=20)
    #: Attempts per message before it is marked ``dead``.
    sms_max_attempts: int = Field(default=8, ge=1, le=100)
    #: How often the relay looks for due messages when it found none.
    sms_relay_poll_seconds: float = Field(default=2.0, gt=0, le=3600)
    sms_relay_batch_size: int = Field(default=50, ge=1, le=1000)
    #: Messages one relay sends at the same time.
    sms_relay_concurrency: int = Field(default=4, ge=1, le=64)
    #: A claimed message not finished within this time (a crashed relay) is claimed again.
    sms_lease_seconds: float = Field(default=60.0, gt=0)
    #: Accept provider callbacks whose signed timestamp is at most this far from now (replay window).
    sms_callback_tolerance_seconds: int = Field(default=300, ge=10, le=3600)
    #: TEST ONLY: the logfile adapter waits this long after writing a line (crash tests).
    sms_logfile_delay_seconds: float = Field(default=0.0, ge=0, le=60)

    @model_validator(mode="after")
    def _check_sms(self) -> Settings:
        if self.sms_provider == "http":
            if not self.sms_http_url or not self.sms_http_secret:
                raise ValueError("KEFU_SMS_PROVIDER=http needs KEFU_SMS_HTTP_URL and KEFU_SMS_HTTP_SECRET")
            if self.sms_lease_seconds <= self.sms_http_timeout_seconds:
                raise ValueError("KEFU_SMS_LEASE_SECONDS must be longer than KEFU_SMS_HTTP_TIMEOUT_SECONDS")
        return self

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("KEFU_LISTEN must look like host:port, e.g. 127.0.0.1:8000")
        return value

    @property
    def listen_host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def listen_port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def public_url(self) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        host = self.listen_host
        if host in ("0.0.0.0", "::"):  # noqa: S104 - display only
            host = "127.0.0.1"
        return f"http://{host}:{self.listen_port}"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'kefu.db').resolve()}"

    @property
    def resolved_owner_url(self) -> str:
        return self.database_owner_url or self.resolved_database_url

    @property
    def is_embedded_database(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @cached_property
    def secret(self) -> bytes:
        """The secret key bytes (generated and stored on first use if not configured)."""
        if self.secret_key is not None:
            value = self.secret_key.get_secret_value()
            if len(value) < 32:
                raise ValueError("KEFU_SECRET_KEY must be at least 32 characters")
            return value.encode()
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()
