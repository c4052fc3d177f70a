"""Public display ids: a type prefix and random base62 (`cus_4fQ9x…`)."""

import secrets
import string

_ALPHABET = (string.digits + string.ascii_letters).encode()
# Each random byte picks a character by `byte % 62` through a translation table (C speed: ids are minted a
# thousand at a time on signal ingestion). The slight bias toward the first 8 characters leaves ~94 bits of
# randomness in 16 characters, ample for ids that are unique per organization and never secrets.
_TABLE = bytes(_ALPHABET[byte % len(_ALPHABET)] for byte in range(256))
_LENGTH = 16


def new_display_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_bytes(_LENGTH).translate(_TABLE).decode()}"


def new_display_ids(prefix: str, n: int) -> list[str]:
    """`n` display ids from one `urandom` call (ingest mints up to a thousand per batch): ids of the same form
    and randomness as `new_display_id`'s, without a system call and a format per id."""
    if n <= 0:
        return []
    text = secrets.token_bytes(_LENGTH * n).translate(_TABLE).decode()
    head = f"{prefix}_"
    return [head + text[start : start + _LENGTH] for start in range(0, _LENGTH * n, _LENGTH)]
