"""Pure hash-chain logic: canonical entries, link hashes, head signatures, verification."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kefu.core.crypto import constant_time_equal, mac

GENESIS_HASH = "0" * 64

#: The fields that enter the hash, in the order they are documented.
ENTRY_FIELDS = (
    "chain",
    "seq",
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_name",
    "action",
    "outcome",
    "target_type",
    "target_id",
    "ip",
    "user_agent",
    "details",
)


#: The fields of an access-log entry that enter its hash.
ACCESS_FIELDS = (
    "chain",
    "seq",
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_name",
    "action",
    "resource_type",
    "resource_id",
    "details",
    "justification_type",
    "justification_id",
    "reason",
    "ip",
)


def _normalise(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)


def canonical_entry(entry: Mapping[str, Any], fields: tuple[str, ...] = ENTRY_FIELDS) -> bytes:
    data = {name: _normalise(entry.get(name)) for name in fields}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def link_hash(prev_hash: str, entry: Mapping[str, Any], fields: tuple[str, ...] = ENTRY_FIELDS) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical_entry(entry, fields)).hexdigest()


def head_signature(key: bytes, chain: str, seq: int, head_hash: str) -> str:
    return mac(key, f"{chain}|{seq}|{head_hash}".encode())


@dataclass(frozen=True)
class ChainReport:
    chain: str
    label: str
    events: int
    ok: bool
    #: The first broken or missing link (seq), when not ok.
    broken_seq: int | None = None
    problem: str | None = None

    def line(self) -> str:
        if self.ok:
            return f"OK      {self.label}: {self.events} events, chain intact"
        return f"BROKEN  {self.label}: first broken link at seq {self.broken_seq}: {self.problem}"


def verify_chain(
    chain: str,
    label: str,
    rows: Iterable[Mapping[str, Any]],
    head: Mapping[str, Any] | None,
    key: bytes,
    fields: tuple[str, ...] = ENTRY_FIELDS,
) -> ChainReport:
    """Check every link and the signed head. ``rows`` must be in ascending ``seq`` order.

    Detects a modified row (its hash no longer matches its content), a deleted
    or inserted row (seq gap, or ``prev_hash`` not the previous row's hash),
    and a cut-off tail or forged head (the signed head disagrees with the last row).
    """
    expected_seq = 1
    prev = GENESIS_HASH
    count = 0
    for row in rows:
        seq = int(row["seq"])
        if seq != expected_seq:
            if seq > expected_seq:
                missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}..{seq - 1}"
                return ChainReport(chain, label, count, False, expected_seq, f"event(s) {missing} missing (deleted)")
            return ChainReport(chain, label, count, False, seq, "duplicate or out-of-order sequence number")
        if row["prev_hash"] != prev:
            return ChainReport(chain, label, count, False, seq, "link does not point at the previous event")
        if link_hash(prev, row, fields) != row["hash"]:
            return ChainReport(chain, label, count, False, seq, "content does not match its hash (modified)")
        prev = row["hash"]
        expected_seq += 1
        count += 1
    last_seq = expected_seq - 1
    if head is None:
        if last_seq == 0:
            return ChainReport(chain, label, 0, True)
        return ChainReport(chain, label, count, False, last_seq, "chain head record is missing")
    head_seq = int(head["seq"])
    if not constant_time_equal(head_signature(key, chain, head_seq, head["hash"]), head["signature"]):
        return ChainReport(chain, label, count, False, min(head_seq, last_seq) + 1, "chain head signature is invalid")
    if head_seq > last_seq:
        missing = f"{last_seq + 1}" if head_seq == last_seq + 1 else f"{last_seq + 1}..{head_seq}"
        return ChainReport(chain, label, count, False, last_seq + 1, f"event(s) {missing} missing (tail cut off)")
    if head_seq < last_seq:
        return ChainReport(chain, label, count, False, head_seq + 1, "events after the signed head")
    if head["hash"] != prev:
        return ChainReport(chain, label, count, False, last_seq, "last event does not match the signed head")
    return ChainReport(chain, label, count, True)
