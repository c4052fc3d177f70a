import re
from collections import Counter

from apps.common.ids import new_display_id


def test_display_ids_are_prefixed_base62_and_do_not_repeat():
    ids = [new_display_id("sig") for _ in range(20_000)]
    assert all(re.fullmatch(r"sig_[0-9A-Za-z]{16}", value) for value in ids)
    assert len(set(ids)) == len(ids)


def test_every_base62_character_is_used():
    characters = Counter("".join(new_display_id("x")[2:] for _ in range(5_000)))
    assert len(characters) == 62
