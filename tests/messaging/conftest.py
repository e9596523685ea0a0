"""Fixtures of the SMS tests."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.messaging.relay import OutboxRelay
from messaging.sms_support import ScriptedSmsPort


@pytest.fixture
async def acme(world: Any) -> Any:
    return await world.tenant("acme")


@pytest.fixture
def port() -> ScriptedSmsPort:
    return ScriptedSmsPort()


@pytest.fixture
def relay(ctx: Any, port: ScriptedSmsPort) -> OutboxRelay:
    return OutboxRelay(ctx, port, owner="relay-a", seed=7, concurrency=1, lease_seconds=60, max_attempts=3)
