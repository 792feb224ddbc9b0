"""Synthetic sequence databases after the IBM Quest sequence generator, for benchmarking sequence mining.

The model is the one of Agrawal & Srikant, "Mining Sequential Patterns" (ICDE
1995, section 4.1), the generator behind the C10-T2.5-S4-I1.25 family of data
sets used by most papers on sequential pattern mining since (GSP, SPADE,
PrefixSpan, SPAM). Its parameters, with the paper's names:

======  ==================  ==================================================
paper   :class:`Quest`      meaning
======  ==================  ==================================================
|D|     ``customers``       number of customers, i.e. of sequences
|C|     ``transactions``    average number of transactions per customer
|T|     ``items``           average number of items per transaction
|S|     ``pattern_length``  average length (in itemsets) of the maximal
                            potentially large sequences
|I|     ``itemset_size``    average size of the itemsets in them
N_S     ``n_sequences``     number of maximal potentially large sequences
N_I     ``n_itemsets``      number of maximal potentially large itemsets
N       ``n_items``         number of items
======  ==================  ==================================================

and the paper's fixed choices: correlation level 0.25, corruption levels drawn
from a normal distribution of mean 0.75 and variance 0.1, unit-mean exponential
weights.

How a database is drawn (every draw from one seeded ``numpy`` generator, so a
seed gives the same database on every machine):

1. N_I potentially large itemsets. Size: Poisson with mean |I| (at least 1).
   A fraction of the items of each itemset after the first comes from the
   previous itemset, the fraction exponentially distributed with mean equal to
   the correlation level; the other items are drawn uniformly from the N items.
   Each itemset gets a weight (exponential, unit mean; normalised into the
   probability of being picked) and a corruption level.
2. N_S potentially large sequences the same way: length Poisson with mean |S|
   (at least 1), itemsets picked from the itemset table by weight, a fraction
   (exponential, mean 0.25) of them taken over from the previous sequence,
   a weight and a corruption level each.
3. Each customer: the number of transactions is Poisson with mean |C| and each
   transaction's size Poisson with mean |T| (at least 1 each). The customer is
   filled with potentially large sequences picked by weight until its item
   budget (the sum of the transaction sizes) is used. A picked sequence is
   corrupted: while a uniform number in [0, 1) is below its corruption level,
   one of its itemsets (at random) is dropped, and an itemset's items are
   dropped the same way under the itemset's own corruption level. Its itemsets
   go, in order, into transactions at increasing random places of the
   customer's sequence. A sequence that does not fit in what is left of the
   budget is put in anyway in half the cases and kept for the next customer in
   the others, as in the paper.

Flattening: AITL mines sequences of single tokens (one event, one token), not
sequences of itemsets. Each transaction's items, distinct and in increasing
item order (as the Quest generator writes them), become consecutive tokens
``i<item>``, and the customer's transactions follow one another. A database of
C10-T2.5 thus holds about 25 tokens a sequence.

:data:`QUEST_BENCH` (seed 0) is the set the issue-13 benchmark mines
(bench/sequences.py): C10-T2.5-S4-I1.25, the first data set of the paper's
parameter table, with |D| = 10,000 customers, N = 1,000 items, N_S = 70 and
N_I = 350 (the paper's ratio N_I = 5 N_S kept). The paper's N_S = 5,000 and
N_I = 25,000 spread 10,000 sequences over so many patterns that minimum
support 0.05 leaves a few hundred frequent ones; with 70 potential sequences
it leaves 12,576 (12,729 in the held-out set of issue 13), over about 248,000
tokens (24.8 a sequence), most sequences distinct.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# The paper's fixed choices.
CORRELATION = 0.25
CORRUPTION_MEAN = 0.75
CORRUPTION_VARIANCE = 0.1


@dataclass(frozen=True)
class Quest:
    """Parameters of a Quest-style database (names of Agrawal & Srikant 1995 in the module docstring)."""

    customers: int = 10_000  # |D|
    transactions: float = 10.0  # |C|
    items: float = 2.5  # |T|
    pattern_length: float = 4.0  # |S|
    itemset_size: float = 1.25  # |I|
    n_sequences: int = 5_000  # N_S
    n_itemsets: int = 25_000  # N_I
    n_items: int = 10_000  # N

    def __post_init__(self) -> None:
        for name in ("customers", "n_sequences", "n_itemsets", "n_items"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("transactions", "items", "pattern_length", "itemset_size"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")

    @property
    def name(self) -> str:
        """The usual label, e.g. ``C10-T2.5-S4-I1.25-D10k-N1k-NS500-NI2.5k``."""
        return (
            f"C{self.transactions:g}-T{self.items:g}-S{self.pattern_length:g}-I{self.itemset_size:g}"
            f"-D{_count(self.customers)}-N{_count(self.n_items)}-NS{_count(self.n_sequences)}"
            f"-NI{_count(self.n_itemsets)}"
        )


def _count(number: int) -> str:
    """A count as the data set names write it: 10000 -> 10k, 500 -> 500."""
    return f"{number / 1000:g}k" if number >= 1000 else f"{number}"


# The issue-13 benchmark set (module docstring): C10-T2.5-S4-I1.25-D10k-N1k-NS70-NI350.
QUEST_BENCH = Quest(customers=10_000, n_items=1_000, n_sequences=70, n_itemsets=350)


def _at_least_one(rng: np.random.Generator, mean: float) -> int:
    """A Poisson draw with the given mean, at least 1 (an empty itemset, sequence or customer is nothing)."""
    return max(1, int(rng.poisson(mean)))


def _corruption(rng: np.random.Generator, size: int) -> np.ndarray:
    """Corruption levels: normal, mean 0.75, variance 0.1, clipped into [0, 1)."""
    return np.clip(rng.normal(CORRUPTION_MEAN, np.sqrt(CORRUPTION_VARIANCE), size), 0.0, 0.999)


def _weights(rng: np.random.Generator, size: int) -> np.ndarray:
    """Picking probabilities: exponential with unit mean, normalised."""
    weights = rng.exponential(1.0, size)
    return weights / weights.sum()


def _table(
    rng: np.random.Generator,
    size: int,
    mean_length: float,
    pick: Callable[[np.random.Generator, int], np.ndarray],
) -> list[tuple[int, ...]]:
    """``size`` tuples of Poisson(``mean_length``) elements, each sharing a fraction with the previous one.

    The fraction is exponential with mean :data:`CORRELATION` (capped at 1);
    the other elements come from ``pick(rng, how_many)``.
    """
    table: list[tuple[int, ...]] = []
    previous: tuple[int, ...] = ()
    for _ in range(size):
        length = _at_least_one(rng, mean_length)
        shared = min(len(previous), round(min(1.0, rng.exponential(CORRELATION)) * length))
        taken = (
            [previous[i] for i in sorted(rng.choice(len(previous), shared, replace=False))] if shared else []
        )
        element = tuple(taken + [int(x) for x in pick(rng, length - shared)])
        table.append(element)
        previous = element
    return table


def _corrupt(rng: np.random.Generator, elements: tuple[int, ...], level: float) -> list[int]:
    """``elements`` with one dropped at random as long as a uniform draw stays below ``level``."""
    kept = list(elements)
    while kept and rng.random() < level:
        kept.pop(int(rng.integers(len(kept))))
    return kept


def generate_itemsets(quest: Quest, seed: int) -> list[list[list[int]]]:
    """The database as the paper has it: per customer, its transactions, each a sorted list of items."""
    rng = np.random.default_rng(seed)
    itemsets = _table(
        rng, quest.n_itemsets, quest.itemset_size, lambda r, k: r.integers(quest.n_items, size=k)
    )
    itemset_weights = _weights(rng, quest.n_itemsets)
    itemset_corruption = _corruption(rng, quest.n_itemsets)
    sequences = _table(
        rng,
        quest.n_sequences,
        quest.pattern_length,
        lambda r, k: r.choice(quest.n_itemsets, size=k, p=itemset_weights),
    )
    sequence_weights = _weights(rng, quest.n_sequences)
    sequence_corruption = _corruption(rng, quest.n_sequences)
    # Pick the sequences in batches (one call per draw would dominate the run time).
    picks = iter(())
    carried: list[list[int]] | None = None  # a sequence that did not fit, kept for the next customer

    def next_sequence() -> list[list[int]]:
        nonlocal picks
        index = next(picks, None)
        if index is None:
            picks = iter(rng.choice(quest.n_sequences, size=4096, p=sequence_weights).tolist())
            index = next(picks)
        kept = _corrupt(rng, sequences[index], sequence_corruption[index])
        return [_corrupt(rng, itemsets[i], itemset_corruption[i]) for i in kept]

    database = []
    for _ in range(quest.customers):
        n_transactions = _at_least_one(rng, quest.transactions)
        budget = sum(_at_least_one(rng, quest.items) for _ in range(n_transactions))
        transactions: list[set[int]] = [set() for _ in range(n_transactions)]
        used = 0
        while used < budget:
            pattern, carried = (carried, None) if carried is not None else (next_sequence(), None)
            size = sum(len(itemset) for itemset in pattern)
            if size == 0:
                continue
            if used + size > budget and used > 0 and rng.random() < 0.5:
                carried = pattern  # does not fit: the next customer gets it
                break
            places = _places(rng, len(pattern), n_transactions)
            for place, itemset in zip(places, pattern, strict=True):
                transactions[place].update(itemset)
            used += size
        database.append([sorted(t) for t in transactions if t])
    return database


def _places(rng: np.random.Generator, length: int, n_transactions: int) -> list[int]:
    """Increasing transaction indices for a sequence's ``length`` itemsets (shared when there are too few)."""
    if length <= n_transactions:
        return sorted(rng.choice(n_transactions, size=length, replace=False).tolist())
    return sorted(rng.integers(n_transactions, size=length).tolist())


def generate(quest: Quest = QUEST_BENCH, seed: int = 0) -> list[list[str]]:
    """The database flattened into token sequences: each transaction's items in order, ``i<item>`` each."""
    return [
        [f"i{item}" for transaction in customer for item in transaction]
        for customer in generate_itemsets(quest, seed)
    ]
