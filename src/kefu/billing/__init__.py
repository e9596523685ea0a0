"""Billing port (credits and their reversals) and its default adapter, a credit-note ledger."""

from typing import Any

from kefu.billing.ledger import LedgerBilling, balance_cents
from kefu.billing.port import BillingPort, CreditResult

__all__ = ["BillingPort", "CreditResult", "LedgerBilling", "balance_cents", "billing_of"]


def billing_of(ctx: Any) -> BillingPort:
    """The process's billing port (``ctx.services['billing']``), the ledger if none was configured."""
    port = ctx.services.get("billing")
    if port is None:
        port = ctx.services["billing"] = LedgerBilling()
    return port
