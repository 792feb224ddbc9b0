"""The IBM Quest-style sequence generator: seeded, deterministic, and shaped by its parameters."""

from __future__ import annotations

import statistics

import pytest

from aitl.sim.quest import QUEST_BENCH, Quest, generate, generate_itemsets

SMALL = Quest(customers=400, n_items=200, n_sequences=30, n_itemsets=150)


def test_same_seed_same_database_other_seed_another():
    assert generate(SMALL, seed=3) == generate(SMALL, seed=3)
    assert generate(SMALL, seed=3) != generate(SMALL, seed=4)


def test_shape_follows_the_parameters():
    """|D| sequences; about |C| x |T| items each; transactions are sorted sets of items below N."""
    customers = generate_itemsets(SMALL, seed=1)
    assert len(customers) == SMALL.customers
    items = [sum(map(len, customer)) for customer in customers]
    assert (
        0.7 * SMALL.transactions * SMALL.items
        < statistics.mean(items)
        < 1.3 * SMALL.transactions * SMALL.items
    )
    for customer in customers:
        assert customer, "every customer has a transaction"
        for transaction in customer:
            assert transaction == sorted(set(transaction))
            assert all(0 <= item < SMALL.n_items for item in transaction)


def test_longer_transactions_give_longer_sequences():
    short = generate(
        Quest(customers=300, transactions=5, n_items=200, n_sequences=30, n_itemsets=150), seed=2
    )
    long = generate(
        Quest(customers=300, transactions=20, n_items=200, n_sequences=30, n_itemsets=150), seed=2
    )
    assert statistics.mean(map(len, long)) > 2 * statistics.mean(map(len, short))


def test_flattened_tokens_are_the_transactions_items_in_order():
    customers = generate_itemsets(SMALL, seed=5)
    flat = generate(SMALL, seed=5)
    assert flat == [[f"i{item}" for transaction in c for item in transaction] for c in customers]


def test_potentially_large_sequences_make_sequences_share_patterns():
    """Few maximal sequences planted in many customers: some token is in a large share of them."""
    data = generate(SMALL, seed=0)
    counts: dict[str, int] = {}
    for sequence in data:
        for token in set(sequence):
            counts[token] = counts.get(token, 0) + 1
    assert max(counts.values()) > 0.1 * len(data)


def test_names_and_the_benchmark_set():
    assert QUEST_BENCH.name == "C10-T2.5-S4-I1.25-D10k-N1k-NS70-NI350"
    assert Quest().name == "C10-T2.5-S4-I1.25-D10k-N10k-NS5k-NI25k"


@pytest.mark.parametrize(
    "changes", [{"customers": 0}, {"n_items": 0}, {"transactions": 0}, {"itemset_size": -1.0}]
)
def test_bad_parameters(changes):
    with pytest.raises(ValueError, match=next(iter(changes))):
        Quest(**changes)
