"""Audit domain: the append-only, hash-chained log of security-relevant actions."""

from kefu.audit.actions import PLATFORM_CHAIN, record, record_access
from kefu.audit.queries import (
    list_events,
    verify_access_chains,
    verify_all,
    verify_platform_chain,
    verify_tenant_chain,
)
from kefu.audit.rules import ChainReport

__all__ = [
    "PLATFORM_CHAIN",
    "ChainReport",
    "list_events",
    "record",
    "record_access",
    "verify_access_chains",
    "verify_all",
    "verify_platform_chain",
    "verify_tenant_chain",
]
