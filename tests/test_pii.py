"""PII normalisation, masking and per-tenant encryption (core.pii)."""

from __future__ import annotations

import uuid

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given, settings
from hypothesis import strategies as st

from kefu.core.pii import (
    InvalidPhoneNumber,
    TenantCrypto,
    mask_id_number,
    mask_name,
    mask_phone,
    normalize_phone,
)

SECRET = b"s" * 48


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("13812341234", "+8613812341234"),
        ("+86 138-1234-1234", "+8613812341234"),
        ("010-62345678", "+861062345678"),
        ("4008123456", "+864008123456"),
        ("95588", "95588"),
    ],
)
def test_normalize_phone(raw, e164):
    assert normalize_phone(raw) == e164


@pytest.mark.parametrize("raw", ["", "abc", "12", "+999999999999999999999"])
def test_normalize_phone_rejects_non_numbers(raw):
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone(raw)


def test_masks():
    assert mask_phone("+8613812341234") == "138****1234"
    assert mask_phone("13812341234") == "138****1234"
    assert mask_name("张伟") == "张*" and mask_name("欧阳娜娜") == "欧阳**" and mask_name("Li Na") == "L****"
    assert mask_id_number("110101199003071234") == "1101**********1234"


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(["138", "139", "150", "186", "177", "199"]), st.from_regex(r"[0-9]{8}", fullmatch=True))
def test_masked_mobile_numbers_never_show_the_middle(prefix, rest):
    number = prefix + rest
    masked = mask_phone(normalize_phone(number))
    assert masked == number[:3] + "****" + number[-4:]


def test_encryption_is_bound_to_tenant_row_and_field():
    t1, t2 = uuid.uuid4(), uuid.uuid4()
    a = TenantCrypto(SECRET, t1, "aa" * 32)
    b = TenantCrypto(SECRET, t2, "bb" * 32)
    row = uuid.uuid4()
    sealed = a.seal("张伟", row_id=row, field="name")
    assert sealed and "张伟" not in sealed
    assert a.open(sealed, row_id=row, field="name") == "张伟"
    assert a.seal("张伟", row_id=row, field="name") != sealed  # randomised
    for attempt in (
        lambda: b.open(sealed, row_id=row, field="name"),
        lambda: a.open(sealed, row_id=uuid.uuid4(), field="name"),
        lambda: a.open(sealed, row_id=row, field="address"),
    ):
        with pytest.raises(InvalidTag):
            attempt()
    assert a.phone_index("+8613812341234") == a.phone_index("+8613812341234")
    assert a.phone_index("+8613812341234") != b.phone_index("+8613812341234")


def test_shredded_tenant_key_cannot_be_used():
    with pytest.raises(ValueError, match="shredded"):
        TenantCrypto(SECRET, uuid.uuid4(), "")
