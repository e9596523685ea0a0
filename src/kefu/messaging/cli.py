"""``kefu sms relay``: run the SMS outbox relay on its own (the web server runs one too)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Annotated

import typer

app = typer.Typer(help="The SMS outbox.", no_args_is_help=True)


@app.command("relay")
def relay(
    once: Annotated[bool, typer.Option(help="One pass, then exit")] = False,
    until_drained: Annotated[bool, typer.Option(help="Exit when no message is left to send")] = False,
) -> None:
    """Send queued SMS through the configured provider (KEFU_SMS_PROVIDER) until stopped."""
    from kefu.cli.main import _settings, ensure_schema
    from kefu.messaging.relay import _main

    ensure_schema(_settings())
    args = argparse.Namespace(once=once, loop=not once, until_drained=until_drained)
    raise typer.Exit(asyncio.run(_main(args)))
