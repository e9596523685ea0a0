"""Reading values out of submitted HTML forms (pages only; the JSON API validates with its schemas)."""

from __future__ import annotations

import uuid

from kefu.core import i18n
from kefu.core.errors import InvalidInput


def form_uuid(value: str | None) -> uuid.UUID | None:
    """The id chosen in a form's select: empty means none; anything else that is not an id is refused."""
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput(i18n.gettext("Choose an entry from the list.")) from None
