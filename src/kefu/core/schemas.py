"""Shared API shapes: strict input models, output models, keyset pages."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Input(BaseModel):
    """Base for request bodies: unknown fields are rejected, strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """A keyset page: pass ``next_after`` back as ``after`` to get the next one."""

    items: list[T]
    next_after: str | None = Field(default=None, description="Cursor for the next page; null on the last page.")


DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def keyset_page(rows: list, limit: int, model: type[BaseModel]) -> Page:  # type: ignore[type-arg]
    """Build a page from ``limit + 1`` rows ordered by ``id`` (the extra row says whether more exist)."""
    has_more = len(rows) > limit
    rows = rows[:limit]
    return Page[model](  # type: ignore[valid-type]
        items=[model.model_validate(r) for r in rows],
        next_after=str(rows[-1].id) if has_more and rows else None,
    )
