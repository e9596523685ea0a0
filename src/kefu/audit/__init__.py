"""Audit domain: the append-only, hash-chained log of security-relevant actions."""

from kefu.audit.actions import PLATFORM_CHAIN, record
from kefu.audit.queries import list_events, verify_all, verify_platform_chain, verify_tenant_chain
from kefu.audit.rules import ChainReport

__all__ = [
    "PLATFORM_CHAIN",
    "ChainReport",
    "list_events",
    "record",
    "verify_all",
    "verify_platform_chain",
    "verify_tenant_chain",
]
