"""The tamper-evident hash chain: each row's hash covers the previous hash and every column of the row."""

from __future__ import annotations

import hashlib
import struct

GENESIS = bytes(32)
_INTS = struct.Struct(">qqq")
_LEN = struct.Struct(">I")


def row_hash(
    prev: bytes, position: int, stream: str, version: int, type_: str, data: bytes, meta: bytes, recorded_at: int
) -> bytes:
    """sha256(prev || position, version, recorded_at || length-prefixed stream, type, data, meta)."""
    h = hashlib.sha256(prev)
    h.update(_INTS.pack(position, version, recorded_at))
    for part in (stream.encode(), type_.encode(), data, meta):
        h.update(_LEN.pack(len(part)))
        h.update(part)
    return h.digest()


def well_typed(stream: object, version: object, type_: object, data: object, meta: object, recorded_at: object) -> bool:
    """Whether each column has the type the log writes: a BLOB turned into TEXT is tampering, not a crash."""
    return (isinstance(stream, str) and isinstance(type_, str) and isinstance(data, bytes)
            and isinstance(meta, bytes) and isinstance(version, int) and isinstance(recorded_at, int))
