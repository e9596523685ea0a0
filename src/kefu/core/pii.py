"""Customer PII: normalisation, masking, per-tenant encryption and blind indexes.

* **Encryption at rest** — each tenant has its own data key, derived with HKDF
  from the instance secret and a random per-tenant salt stored on the tenant
  row (``tenants.pii_key_salt``). Deleting the salt makes every ciphertext of
  that tenant unreadable (crypto-shredding when a tenant leaves). Values are
  sealed with AES-256-GCM bound to their row and field
  (:meth:`TenantCrypto.seal`), so a ciphertext copied elsewhere does not open.
* **Search** — exact-match lookups use an HMAC "blind index" of the
  normalised value under a separate per-tenant key
  (:meth:`TenantCrypto.blind_index`); it leaks equality only, so never index
  a low-cardinality field alone.
* **Display** — masked by default: ``138****1234``, ``张*``, ``1101**********123X``.
  Showing a full value is a *reveal* that the caller must audit
  (``audit.record_access(..., "reveal", ...)``).
"""

from __future__ import annotations

import hmac
import uuid
from functools import lru_cache
from hashlib import sha256

import phonenumbers

from kefu.core.crypto import SecretBox, derive_key

DEFAULT_REGION = "CN"


# --------------------------------------------------------------------------- normalisation


class InvalidPhoneNumber(ValueError):
    pass


def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """E.164 form of a phone number (``+8613812341234``); service numbers such as 95588 stay as digits.

    Raises :class:`InvalidPhoneNumber` with a readable message.
    """
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("The phone number is empty.")
    digits = "".join(ch for ch in text if ch.isdigit() or ch == "+")
    if len(digits.lstrip("+")) < 3 or len(digits) > 20:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number.")
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number.") from None
    if phonenumbers.is_valid_number(parsed):
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    # Short service numbers (95588, 12300, 10086) are real callers and callees too.
    national = str(parsed.national_number)
    if 3 <= len(national) <= 8 and not text.startswith("+"):
        return national
    raise InvalidPhoneNumber(f"{raw!r} is not a valid phone number.")


def national_digits(e164: str) -> str:
    if e164.startswith("+86"):
        return e164[3:]
    return e164.lstrip("+")


# --------------------------------------------------------------------------- masking


def mask_phone(value: str | None) -> str:
    """``13812341234`` → ``138****1234`` (GB/T 35273 display limits); short numbers keep their tail."""
    if not value:
        return ""
    digits = national_digits(value) if value.startswith("+") else value
    if len(digits) >= 11:
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) >= 7:
        return f"{digits[:2]}{'*' * (len(digits) - 6)}{digits[-4:]}"
    return digits[:-2] + "**" if len(digits) > 2 else "**"


def mask_name(value: str | None) -> str:
    """``张伟`` → ``张*``; ``欧阳娜娜`` → ``欧阳**``; ``Li Na`` → ``L****``."""
    if not value:
        return ""
    value = value.strip()
    if len(value) <= 1:
        return "*"
    if value.isascii():
        return value[0] + "*" * (len(value) - 1)
    keep = 2 if len(value) >= 4 else 1
    return value[:keep] + "*" * (len(value) - keep)


def mask_id_number(value: str | None) -> str:
    """Resident ID ``110101199003071234`` → ``1101**********1234``."""
    if not value:
        return ""
    if len(value) <= 8:
        return "*" * len(value)
    return f"{value[:4]}{'*' * (len(value) - 8)}{value[-4:]}"


def mask_address(value: str | None) -> str:
    """Keep roughly the district, hide the rest: ``北京市海淀区中关村大街1号`` → ``北京市海淀区******``."""
    if not value:
        return ""
    keep = max(1, min(len(value) // 2, 6))
    return value[:keep] + "*" * min(6, len(value) - keep)


# --------------------------------------------------------------------------- per-tenant crypto


class TenantCrypto:
    def __init__(self, secret: bytes, tenant_id: uuid.UUID, salt: str) -> None:
        if not salt:
            raise ValueError("tenant has no PII key (it was shredded or never created)")
        material = secret + bytes.fromhex(salt)
        self.tenant_id = tenant_id
        self._box = SecretBox(derive_key(material, f"pii-encryption:{tenant_id}"))
        self._index_key = derive_key(material, f"pii-blind-index:{tenant_id}")

    @staticmethod
    def _aad(row_id: uuid.UUID | str, field: str) -> bytes:
        return f"{row_id}|{field}".encode()

    def seal(self, plaintext: str | None, *, row_id: uuid.UUID | str, field: str) -> str | None:
        if plaintext is None or plaintext == "":
            return None
        return self._box.encrypt(plaintext, self._aad(row_id, field))

    def open(self, ciphertext: str | None, *, row_id: uuid.UUID | str, field: str) -> str | None:
        if not ciphertext:
            return None
        return self._box.decrypt(ciphertext, self._aad(row_id, field))

    def blind_index(self, kind: str, normalized: str) -> str:
        """HMAC-SHA256 of ``kind:value``; ``kind`` separates e.g. phone numbers from ID numbers."""
        return hmac.new(self._index_key, f"{kind}:{normalized}".encode(), sha256).hexdigest()

    def phone_index(self, e164: str) -> str:
        return self.blind_index("phone", e164)


@lru_cache(maxsize=4096)
def _cached(secret: bytes, tenant_id: uuid.UUID, salt: str) -> TenantCrypto:
    return TenantCrypto(secret, tenant_id, salt)


def tenant_crypto(secret: bytes, tenant_id: uuid.UUID, salt: str | None) -> TenantCrypto:
    return _cached(secret, tenant_id, salt or "")
