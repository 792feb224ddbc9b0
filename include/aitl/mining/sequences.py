"""Sequential pattern mining over platform sessions: which event orders recur.

A *session* is the ordered list of event tokens of one user interaction, e.g.
``generate syntax_error retry generate ok``. A *pattern* is a sequence of single
tokens; a session *contains* it when the tokens occur in that order, gaps
allowed (PrefixSpan semantics). The *count* of a pattern is the number of
sessions that contain it at least once (a session repeating it counts once) and
its *support* is count / number of sessions.

Threshold rule: with ``n`` sessions, a pattern is frequent iff
``count >= ceil(min_support * n)``, the product taken exactly on the decimal the
float is written as: ``0.07`` of 100 sessions means 7 sessions, although the
binary float product ``0.07 * 100`` is 7.000000000000001 and would round up to 8.

Speed, on any data: identical sessions are mined once with their
multiplicity as weight, tokens in fewer sessions than the threshold are dropped
first, and the rest are integer-encoded and mined by the vectorised
PrefixSpan of :mod:`aitl.mining.prefix_graph`.

bench/sequences.py measures it against the ``prefixspan`` package on the
simulator's sessions and on an IBM Quest-style set (``aitl.sim.quest``).

Method: docs/statistics.md#sequence-patterns.
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from aitl.mining.prefix_graph import Database, paths, pattern_graph


@dataclass(frozen=True)
class SequentialPattern:
    sequence: tuple[str, ...]
    count: int  # sessions containing it
    support: float  # count / number of sessions


@dataclass(frozen=True)
class SequentialRule:
    antecedent: tuple[str, ...]
    consequent: tuple[str, ...]
    support: float  # support of antecedent + consequent
    confidence: float  # support(antecedent + consequent) / support(antecedent)
    lift: float  # confidence / support(consequent)


def _fraction(value: float, name: str, low: float, low_inclusive: bool) -> Fraction:
    """``value`` as the exact decimal it is written as, checked to lie in its range.

    Thresholds are compared as fractions so that 0.07 of 100 sessions is exactly 7,
    whatever binary rounding the float carries.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    above_low = number >= low if low_inclusive else number > low
    if not (above_low and number <= 1):  # also rejects NaN
        interval = f"{'[' if low_inclusive else '('}{low:g}, 1]"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return Fraction(repr(number))


def min_count(min_support: float, n_sessions: int) -> int:
    """Fewest sessions a frequent pattern must occur in: ``ceil(min_support * n)``, exactly."""
    return math.ceil(_fraction(min_support, "min_support", 0, False) * n_sessions)


def _weighted(sessions: Iterable[Sequence[str]] | Mapping[tuple[str, ...], int]) -> Counter[tuple[str, ...]]:
    """Identical sessions merged into one sequence with its multiplicity: the main speed lever."""
    if isinstance(sessions, Mapping):
        weights: Counter[tuple[str, ...]] = Counter()
        for sequence, count in sessions.items():
            weight = operator.index(count)
            if weight < 0:
                raise ValueError(f"session count must be >= 0, got {count!r} for {sequence!r}")
            weights[tuple(sequence)] += weight
        return weights
    return Counter(map(_session, sessions))


def _session(session: Sequence[str]) -> tuple[str, ...]:
    """A session as a tuple; a bare string is refused since it would be read as one event per letter."""
    if isinstance(session, str):
        raise TypeError(f"a session is a sequence of event tokens, not a string: {session!r}")
    return tuple(session)


def _frequent_tokens(weights: Mapping[tuple[str, ...], int], threshold: int) -> list[str]:
    """Tokens in at least ``threshold`` sessions: a pattern can only contain these (anti-monotonicity)."""
    counts: Counter[str] = Counter()
    for sequence, weight in weights.items():
        for token in set(sequence):
            counts[token] += weight
    return sorted(token for token, count in counts.items() if count >= threshold)


def _encode(weights: Mapping[tuple[str, ...], int], tokens: list[str]) -> Counter[tuple[int, ...]]:
    """Sessions over token ids with infrequent tokens dropped, deduplicated again.

    Dropping a token that no frequent pattern contains changes no frequent
    pattern's count, and it makes more sessions (and suffixes) identical.
    """
    ids = {token: index for index, token in enumerate(tokens)}
    encoded: Counter[tuple[int, ...]] = Counter()
    for sequence, weight in weights.items():
        kept = tuple(ids[token] for token in sequence if token in ids)
        if kept and weight:
            encoded[kept] += weight
    return encoded


def mine(
    sessions: Iterable[Sequence[str]] | Mapping[tuple[str, ...], int],
    min_support: float,
    max_length: int | None = None,
) -> list[SequentialPattern]:
    """All frequent sequential patterns, exactly, sorted by -count, length, then tokens.

    ``sessions`` is either the raw sessions or already deduplicated counts
    (sequence -> number of identical sessions). Every session counts in the
    denominator, empty ones included. ``max_length`` caps the pattern length.
    No session at all gives no pattern.
    """
    if max_length is not None and max_length < 1:
        raise ValueError(f"max_length must be >= 1 or None, got {max_length!r}")
    weights = _weighted(sessions)
    n_sessions = sum(weights.values())
    threshold = min_count(min_support, n_sessions)
    if n_sessions == 0:
        return []
    tokens = _frequent_tokens(weights, threshold)
    encoded = _encode(weights, tokens)
    if not encoded:
        return []
    counts, edges = pattern_graph(Database(encoded, len(tokens)), threshold, max_length)
    patterns = [
        SequentialPattern(sequence, count, count / n_sessions)
        for sequence, count in paths(counts, edges, tokens)
    ]
    return sorted(patterns, key=lambda p: (-p.count, len(p.sequence), p.sequence))


def rules(patterns: list[SequentialPattern], min_confidence: float) -> list[SequentialRule]:
    """Sequential rules "antecedent, later consequent" from a complete list of frequent patterns.

    For every pattern P of length >= 2 and every split 1 <= k < len(P) the rule
    is antecedent P[:k] -> consequent P[k:], with
    support = support(P), confidence = count(P) / count(P[:k]) (the share of
    sessions with the antecedent in which the consequent follows it) and
    lift = confidence / support(P[k:]). Both parts are subsequences of P, hence
    frequent and in ``patterns`` when that is the output of :func:`mine` with
    the same sessions (and a ``max_length`` that bounds P too). Rules with
    confidence >= ``min_confidence`` (compared exactly) are kept, sorted by
    -confidence, -lift, -support, antecedent, consequent. Lift compares "the
    consequent after the antecedent" with "the consequent anywhere", so ordering
    alone can put it below 1.
    """
    floor = _fraction(min_confidence, "min_confidence", 0, True)
    by_sequence = {pattern.sequence: pattern for pattern in patterns}
    found = []
    for pattern in patterns:
        for k in range(1, len(pattern.sequence)):
            antecedent = _part(by_sequence, pattern.sequence[:k])
            if Fraction(pattern.count, antecedent.count) >= floor:
                found.append(_rule(pattern, antecedent, _part(by_sequence, pattern.sequence[k:])))
    return sorted(found, key=lambda r: (-r.confidence, -r.lift, -r.support, r.antecedent, r.consequent))


def _part(
    by_sequence: Mapping[tuple[str, ...], SequentialPattern], part: tuple[str, ...]
) -> SequentialPattern:
    """The pattern of a rule side; missing means the list was not mine()'s complete output."""
    try:
        return by_sequence[part]
    except KeyError:
        raise ValueError(f"pattern {part!r} is missing: rules need every frequent subsequence") from None


def _rule(
    pattern: SequentialPattern, antecedent: SequentialPattern, consequent: SequentialPattern
) -> SequentialRule:
    """The rule "antecedent, later consequent" that ``pattern`` splits into."""
    confidence = pattern.count / antecedent.count
    return SequentialRule(
        antecedent.sequence,
        consequent.sequence,
        pattern.support,
        confidence,
        confidence / consequent.support,
    )


def read_sessions(path: Path) -> Counter[tuple[str, ...]]:
    """Deduplicated sessions of a file: one session per line, tokens separated by whitespace.

    Blank lines are skipped (they are layout, not sessions with no event, and do
    not count in the denominator). A line that is not UTF-8 or holds a
    non-printable character (e.g. NUL: a binary file) raises ValueError naming
    the file and the line, since mining it would silently invent tokens.
    """
    sessions: Counter[tuple[str, ...]] = Counter()
    with Path(path).open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            tokens = _tokens(raw, path, number)
            if tokens:
                sessions[tokens] += 1
    return sessions


def _tokens(raw: bytes, path: Path, number: int) -> tuple[str, ...]:
    """The event tokens of one line of a session file, or ValueError saying where it is broken."""
    try:
        tokens = tuple(raw.decode("utf-8").split())
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}:{number}: not valid UTF-8 ({error.reason})") from None
    for token in tokens:
        if not token.isprintable():
            raise ValueError(f"{path}:{number}: non-printable character in token {token!r}")
    return tokens


def analyze_file(path: Path, min_support: float = 0.1, min_confidence: float = 0.7) -> dict[str, Any]:
    """Frequent patterns and rules of a session file, as plain JSON-ready data."""
    patterns = mine(read_sessions(path), min_support)
    return {
        "patterns": [{"sequence": list(p.sequence), "support": p.support} for p in patterns],
        "rules": [
            {
                "antecedent": list(r.antecedent),
                "consequent": list(r.consequent),
                "support": r.support,
                "confidence": r.confidence,
                "lift": r.lift,
            }
            for r in rules(patterns, min_confidence)
        ],
    }
