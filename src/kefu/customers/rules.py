"""Pure rules of the customers domain: ratings, star levels, tenure, justification kinds."""

from __future__ import annotations

from datetime import datetime

CREDIT_RATINGS = ("AAA", "AA", "A", "B", "C", "D")
STAR_LEVELS = range(0, 8)
#: Interactions that explain reading a customer record (security notes §2.3, insider rule R1).
JUSTIFICATIONS = ("call", "work_order")
REVEALABLE_FIELDS = ("name", "phones", "id_number", "address")
MIN_REASON_LENGTH = 4


def tenure_months(since: datetime | None, now: datetime) -> int:
    if since is None:
        return 0
    months = (now.year - since.year) * 12 + (now.month - since.month)
    if now.day < since.day:
        months -= 1
    return max(0, months)


def credit_rank(rating: str) -> int:
    """AAA → 5 … D → 0 (higher is better); unknown ratings rank lowest."""
    try:
        return len(CREDIT_RATINGS) - 1 - CREDIT_RATINGS.index(rating)
    except ValueError:
        return -1


def normalize_id_number(value: str) -> str:
    return value.strip().upper().replace(" ", "")
