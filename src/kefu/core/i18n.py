"""Translations (zh-CN and English) from gettext catalogs read with Babel.

Source strings are English. ``kefu/locale/<lang>/LC_MESSAGES/messages.po``
holds the translations; ``make messages`` extracts new strings. Catalogs are
read once at first use, straight from the .po files (no compiled .mo files
to keep in step).
"""

from __future__ import annotations

import contextvars
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALES = ("zh_CN", "en")
LOCALE_NAMES = {"zh_CN": "中文", "en": "English"}
DEFAULT_LOCALE = "zh_CN"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"

_current: contextvars.ContextVar[str] = contextvars.ContextVar("kefu_locale", default=DEFAULT_LOCALE)


@cache
def _catalog(locale: str) -> dict[str, str | tuple[str, ...]]:
    path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    messages: dict[str, str | tuple[str, ...]] = {}
    for message in catalog:
        if not message.id or not message.string or message.fuzzy:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        messages[key] = message.string if isinstance(message.string, str) else tuple(message.string)
    return messages


def set_locale(locale: str) -> contextvars.Token[str]:
    return _current.set(locale if locale in LOCALES else DEFAULT_LOCALE)


def get_locale() -> str:
    return _current.get()


def gettext(message: str, **params: object) -> str:
    translated = _catalog(_current.get()).get(message, message)
    text = translated if isinstance(translated, str) else translated[0]
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, **params: object) -> str:
    translated = _catalog(_current.get()).get(singular)
    if isinstance(translated, tuple):
        # zh_CN has one plural form; English has two.
        text = translated[0] if len(translated) == 1 or n == 1 else translated[1]
    else:
        text = singular if n == 1 else plural
    params.setdefault("num", n)
    return text % params


_ = gettext


def N_(message: str) -> str:
    """Mark a string for extraction without translating it now."""
    return message


def negotiate(accept_language: str | None) -> str | None:
    """Pick a supported locale from an Accept-Language header."""
    if not accept_language:
        return None
    ranked = []
    for part in accept_language.split(","):
        lang, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        ranked.append((weight, lang.strip().lower()))
    for _weight, lang in sorted(ranked, reverse=True):
        if lang.startswith("zh"):
            return "zh_CN"
        if lang.startswith("en"):
            return "en"
    return None
