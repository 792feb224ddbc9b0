"""Sequence mining on any data: the array miner against prefixspan where its shortcuts could go wrong.

``aitl.mining.sequences`` projects many prefixes at once over flat arrays and
takes shortcuts that only pay on some data: a table of last occurrences (or a
binary search when the table would be too big), steps back from a token's last
occurrence to its first one after a pointer (or a binary search after
``_STEPS_BACK`` steps), two ways of finding a node's extensions, batches of
nodes, and merged projections (equal rests of different sessions). Each test
here forces one path and compares the patterns and counts with prefixspan's
``frequent`` (a pattern counted once per sequence that contains it, gaps
allowed) on seeded random data, small enough for the reference.
"""

from __future__ import annotations

import random

import pytest
from prefixspan import PrefixSpan

from aitl.mining import prefix_graph
from aitl.mining.sequences import min_count, mine
from aitl.sim.quest import Quest, generate

SEEDS = range(6)


def reference(data: list[list[str]], min_support: float, max_length: int | None = None) -> dict:
    miner = PrefixSpan(data)
    if max_length is not None:
        miner.maxlen = max_length
    return {tuple(p): c for c, p in miner.frequent(min_count(min_support, len(data)))}


def ours(data: list[list[str]], min_support: float, max_length: int | None = None) -> dict:
    return {p.sequence: p.count for p in mine(data, min_support, max_length)}


def random_data(seed: int, n: int, alphabet: int, max_len: int, skew: float = 0.0) -> list[list[str]]:
    """Sequences of ``e<k>`` tokens, uniform or (``skew`` > 0) favouring a few tokens, so they repeat."""
    rng = random.Random(seed)
    weights = [1 / (k + 1) ** skew for k in range(alphabet)]
    tokens = [f"e{k}" for k in range(alphabet)]
    return [rng.choices(tokens, weights, k=rng.randint(0, max_len)) for _ in range(n)]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    ("n", "alphabet", "max_len", "skew", "min_support"),
    [(80, 6, 10, 0.0, 0.2), (150, 12, 25, 1.0, 0.1), (60, 3, 40, 0.0, 0.5), (200, 30, 6, 1.5, 0.03)],
)
def test_random_data_matches_prefixspan(seed, n, alphabet, max_len, skew, min_support):
    data = random_data(seed, n, alphabet, max_len, skew)
    assert ours(data, min_support) == reference(data, min_support)


@pytest.mark.parametrize("seed", SEEDS)
def test_without_the_table_of_last_occurrences(seed, monkeypatch):
    """Beyond ``_TABLE_CELLS`` the last occurrences are searched: same patterns."""
    monkeypatch.setattr(prefix_graph, "_TABLE_CELLS", 0)
    data = random_data(seed, 120, 10, 20, skew=1.0)
    assert ours(data, 0.1) == reference(data, 0.1)


@pytest.mark.parametrize("seed", SEEDS)
def test_long_runs_of_one_token_fall_back_to_a_search(seed, monkeypatch):
    """A token repeated more than ``_STEPS_BACK`` times after a pointer: the binary search finds it."""
    monkeypatch.setattr(prefix_graph, "_STEPS_BACK", 1)
    data = random_data(seed, 60, 3, 30, skew=2.0)
    assert ours(data, 0.3) == reference(data, 0.3)


@pytest.mark.parametrize("batch", [1, 64])
@pytest.mark.parametrize("seed", SEEDS[:3])
def test_small_batches_and_one_node_at_a_time(seed, batch, monkeypatch):
    """Batches of any size give the same graph: the nodes of a batch are independent."""
    monkeypatch.setattr(prefix_graph, "_BATCH", batch)
    data = random_data(seed, 100, 8, 15, skew=0.5)
    assert ours(data, 0.1) == reference(data, 0.1)


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_repetitive_sessions_with_weights_merge_projections(seed):
    """Few distinct sessions repeated many times, as the platform's: merged rests, weights above 1."""
    rng = random.Random(seed)
    distinct = random_data(seed, 12, 5, 8)
    data = [list(rng.choice(distinct)) for _ in range(400)]
    assert ours(data, 0.05) == reference(data, 0.05)
    deduplicated: dict[tuple[str, ...], int] = {}
    for session in data:
        deduplicated[tuple(session)] = deduplicated.get(tuple(session), 0) + 1
    assert {p.sequence: p.count for p in mine(deduplicated, 0.05)} == reference(data, 0.05)


@pytest.mark.parametrize("max_length", [1, 2, 3])
def test_max_length_on_random_data(max_length):
    data = random_data(3, 120, 8, 15, skew=1.0)
    assert ours(data, 0.1, max_length) == reference(data, 0.1, max_length)


@pytest.mark.parametrize("seed", [0, 1])
def test_quest_style_data_matches_prefixspan(seed):
    """Long, mostly distinct sequences (the benchmark's kind), at a size the reference does quickly."""
    data = generate(Quest(customers=300, n_items=100, n_sequences=60, n_itemsets=300), seed)
    assert len({tuple(s) for s in data}) > 290
    found = ours(data, 0.15)
    assert len(found) > 1000
    assert found == reference(data, 0.15)


def test_known_answer_with_repeated_tokens():
    """By hand: a a b / a b / b a; at count 2: a 3, b 3, a b 2, a a 1 (not frequent), b a 1."""
    data = [["a", "a", "b"], ["a", "b"], ["b", "a"]]
    assert ours(data, 0.6) == {("a",): 3, ("b",): 3, ("a", "b"): 2}
    assert ours(data, 0.3) == {
        ("a",): 3,
        ("b",): 3,
        ("a", "b"): 2,
        ("a", "a"): 1,
        ("b", "a"): 1,
        ("a", "a", "b"): 1,
    }
