import re
import secrets
from collections import Counter

from apps.common.ids import new_display_id, new_display_ids


def test_display_ids_are_prefixed_base62_and_do_not_repeat():
    ids = [new_display_id("sig") for _ in range(20_000)]
    assert all(re.fullmatch(r"sig_[0-9A-Za-z]{16}", value) for value in ids)
    assert len(set(ids)) == len(ids)


def test_every_base62_character_is_used():
    characters = Counter("".join(new_display_id("x")[2:] for _ in range(5_000)))
    assert len(characters) == 62


def test_batched_display_ids_are_prefixed_base62_and_do_not_repeat():
    ids = [value for _ in range(20) for value in new_display_ids("sig", 1000)]
    assert len(ids) == 20_000
    assert all(re.fullmatch(r"sig_[0-9A-Za-z]{16}", value) for value in ids)
    assert len(set(ids)) == len(ids)
    characters = Counter("".join(value[4:] for value in ids))
    assert len(characters) == 62
    assert new_display_ids("sig", 0) == []
    assert [len(new_display_ids("cus", n)) for n in (1, 2, 999)] == [1, 2, 999]


def test_a_batch_of_display_ids_takes_one_random_read(monkeypatch):
    reads = []
    real = secrets.token_bytes

    def token_bytes(n):
        reads.append(n)
        return real(n)

    monkeypatch.setattr(secrets, "token_bytes", token_bytes)
    assert len(new_display_ids("sig", 1000)) == 1000
    assert reads == [16 * 1000]
