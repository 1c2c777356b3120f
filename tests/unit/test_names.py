"""Random scientist names: format and membership."""

from __future__ import annotations

import random
import re

from atmo_provider.names import adjectives, random_scientist, scientists


def test_name_is_adjective_scientist_and_four_digits():
    name = random_scientist(rng=random.Random(3))

    adjective, scientist, number = name.split("-")
    assert adjective in adjectives
    assert scientist in scientists
    assert re.fullmatch(r"[1-9][0-9]{3}", number)


def test_names_are_valid_identifiers():
    rng = random.Random(11)

    names = [random_scientist(rng=rng) for _ in range(1000)]

    assert all(re.fullmatch(r"[a-z0-9-]{1,100}", name) for name in names)


def test_separator_is_used_between_parts():
    name = random_scientist(separator="_", rng=random.Random(5))

    assert len(name.split("_")) == 3


def test_same_seed_gives_same_name():
    assert random_scientist(rng=random.Random(42)) == random_scientist(rng=random.Random(42))


def test_names_vary():
    rng = random.Random(0)

    assert len({random_scientist(rng=rng) for _ in range(100)}) > 90


def test_word_lists_have_no_duplicates_or_separators():
    for words in (adjectives, scientists):
        assert len(words) == len(set(words))
        assert all(re.fullmatch(r"[a-z]+", word) for word in words)
