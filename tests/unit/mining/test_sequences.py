"""Sequential pattern mining: a published example, the reference package, and edge cases.

The reference is the ``prefixspan`` package (PyPI), whose ``frequent(k)``
counts a pattern once per sequence that contains it (its inverted index keeps
only the first match per sequence), which is exactly our ``count``. It is given
the raw, non-deduplicated sessions, so the weighting by multiplicity is checked
too. A brute-force count of every subsequence is a second, independent oracle.
"""

from __future__ import annotations

import math
import random
import subprocess
import sys
from collections import Counter
from itertools import combinations
from pathlib import Path

import pytest
from prefixspan import PrefixSpan

from aitl.mining.sequences import (
    SequentialPattern,
    SequentialRule,
    analyze_file,
    min_count,
    mine,
    read_sessions,
    rules,
)

Counts = dict[tuple[str, ...], int]


def counts(patterns: list[SequentialPattern]) -> Counts:
    return {p.sequence: p.count for p in patterns}


def reference(sessions: list[list[str]], threshold: int, max_length: int | None = None) -> Counts:
    miner = PrefixSpan(sessions)
    if max_length is not None:
        miner.maxlen = max_length
    return {tuple(pattern): count for count, pattern in miner.frequent(threshold)}


def subsequences(session: list[str]) -> set[tuple[str, ...]]:
    """Every distinct non-empty subsequence, by enumerating the kept positions."""
    positions = range(len(session))
    chosen = (kept for size in positions for kept in combinations(positions, size + 1))
    return {tuple(session[i] for i in kept) for kept in chosen}


def brute_force(sessions: list[list[str]], threshold: int) -> Counts:
    """Every distinct subsequence of every session, counted once per session."""
    found: Counter[tuple[str, ...]] = Counter()
    for session in sessions:
        found.update(subsequences(session))
    return {pattern: count for pattern, count in found.items() if count >= threshold}


def random_sessions(seed: int, n: int, alphabet: int, max_len: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [[f"e{rng.randrange(alphabet)}" for _ in range(rng.randint(0, max_len))] for _ in range(n)]


FAILURES = ("syntax_error", "test_failure", "runtime_error", "timeout", "misunderstood_task")


def platform_sessions(seed: int, n: int) -> list[list[str]]:
    """Sessions of 1-4 attempts: each failure is followed by a retry, or by abandon at the end."""
    rng = random.Random(seed)
    sessions = []
    for _ in range(n):
        (attempts,) = rng.choices((1, 2, 3, 4), (0.55, 0.25, 0.12, 0.08))
        session: list[str] = []
        for attempt in range(1, attempts + 1):
            session.append("generate")
            if attempt == attempts and rng.random() < 0.8:
                session.append("ok")
                break
            session.append(rng.choices(FAILURES, (0.35, 0.25, 0.2, 0.1, 0.1))[0])
            session.append("retry" if attempt < attempts else "abandon")
        sessions.append(session)
    return sessions


# J. Wang and J. Han, "BIDE: Efficient Mining of Frequent Closed Sequences",
# ICDE 2004, Table 1: the sequence database below (single items), min_sup = 2.
BIDE_SDB = [list("CAABC"), list("ABCB"), list("CABC"), list("ABBCA")]
# All frequent sequences, worked out by hand (rows: 1 CAABC, 2 ABCB, 3 CABC, 4 ABBCA).
BIDE_FREQUENT = {
    "A": 4, "B": 4, "C": 4,
    "AA": 2,  # rows 1, 4
    "AB": 4, "AC": 4, "BC": 4, "ABC": 4,  # in every row
    "BB": 2, "ABB": 2,  # rows 2, 4
    "CA": 3,  # rows 1, 3, 4
    "CB": 3,  # rows 1, 2, 3
    "CC": 2, "CAB": 2, "CAC": 2, "CBC": 2, "CABC": 2,  # rows 1, 3
}  # fmt: skip
# Infrequent on purpose: BA (row 4 only), ABBC (row 4), AAB, AAC (row 1), ACA, ACB.


def test_bide_example_by_hand():
    found = mine(BIDE_SDB, min_support=0.5)
    assert counts(found) == {tuple(k): v for k, v in BIDE_FREQUENT.items()}
    assert counts(found) == reference(BIDE_SDB, 2)
    assert all(p.support == p.count / 4 for p in found)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    ("n", "alphabet", "max_len", "min_support"),
    [(60, 2, 8, 0.3), (80, 4, 10, 0.1), (120, 8, 12, 0.05), (40, 20, 6, 0.05), (200, 6, 5, 0.02)],
)
def test_random_databases_match_reference_and_brute_force(seed, n, alphabet, max_len, min_support):
    sessions = random_sessions(seed, n, alphabet, max_len)
    threshold = min_count(min_support, n)
    found = counts(mine(sessions, min_support))
    assert found == reference(sessions, threshold)
    if max_len <= 8:
        assert found == brute_force(sessions, threshold)


@pytest.mark.parametrize("max_length", [1, 2, 3, 5])
@pytest.mark.parametrize("kind", ["random", "platform"])
def test_max_length_matches_reference(max_length, kind):
    # Platform sessions reach the same projection at different depths (retry loops),
    # so this also checks that a shared projection keeps the length it has left.
    sessions = random_sessions(7, 100, 5, 10) if kind == "random" else platform_sessions(7, 300)
    found = mine(sessions, 0.05, max_length=max_length)
    assert counts(found) == reference(sessions, min_count(0.05, len(sessions)), max_length)
    assert found == [p for p in mine(sessions, 0.05) if len(p.sequence) <= max_length]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("min_support", [0.01, 0.05, 0.2])
def test_platform_sessions_match_reference(seed, min_support):
    sessions = platform_sessions(seed, 1500)
    found = mine(sessions, min_support)
    assert counts(found) == reference(sessions, min_count(min_support, 1500))
    assert ("generate", "syntax_error", "retry", "generate") in counts(found)


def test_deduplicated_counts_give_the_same_patterns():
    sessions = platform_sessions(3, 1000)
    deduplicated = Counter(tuple(s) for s in sessions)
    assert len(deduplicated) < len(sessions) / 5
    assert mine(deduplicated, 0.02) == mine(sessions, 0.02)


def test_output_is_sorted_by_count_then_length_then_tokens():
    found = mine(platform_sessions(4, 500), 0.05)
    keys = [(-p.count, len(p.sequence), p.sequence) for p in found]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


def test_threshold_is_exact_on_the_decimal_min_support():
    assert 0.07 * 100 > 7 and math.ceil(0.07 * 100) == 8  # the float trap
    assert min_count(0.07, 100) == 7
    assert min_count(0.28, 25) == 7
    assert min_count(0.1, 30) == 3
    assert min_count(1.0, 7) == 7
    assert min_count(0.25, 10) == 3
    assert min_count(1e-9, 10) == 1
    sessions = [["generate", "timeout"]] * 7 + [["generate", "ok"]] * 93
    assert counts(mine(sessions, 0.07))[("timeout",)] == 7


# Rules, by hand. Four sessions, min_support 0.5 (2 sessions):
#   generate fail generate ok | generate fail generate fail | generate ok | fail
# Frequent: generate 3, fail 3, ok 2, and in two sessions each: generate generate,
# generate fail, generate ok, fail generate, generate fail generate.
RULE_SESSIONS = [
    ["generate", "fail", "generate", "ok"],
    ["generate", "fail", "generate", "fail"],
    ["generate", "ok"],
    ["fail"],
]
G, F, K = ("generate",), ("fail",), ("ok",)
RULES_BY_HAND = [
    # antecedent, consequent, support, confidence, lift = confidence / support(consequent)
    SequentialRule(G + F, G, 0.5, 1.0, 1 / 0.75),
    SequentialRule(G, F + G, 0.5, 2 / 3, (2 / 3) / 0.5),
    SequentialRule(G, K, 0.5, 2 / 3, (2 / 3) / 0.5),
    SequentialRule(F, G, 0.5, 2 / 3, (2 / 3) / 0.75),
    SequentialRule(G, F, 0.5, 2 / 3, (2 / 3) / 0.75),
    SequentialRule(G, G, 0.5, 2 / 3, (2 / 3) / 0.75),
]


def sides(found: list[SequentialRule]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    return [(rule.antecedent, rule.consequent) for rule in found]


def test_patterns_of_the_rule_example_by_hand():
    assert counts(mine(RULE_SESSIONS, 0.5)) == {
        G: 3, F: 3, K: 2, G + G: 2, G + F: 2, G + K: 2, F + G: 2, G + F + G: 2,
    }  # fmt: skip


def test_rules_by_hand():
    found = rules(mine(RULE_SESSIONS, 0.5), min_confidence=0.0)
    assert sides(found) == sides(RULES_BY_HAND)
    for got, want in zip(found, RULES_BY_HAND, strict=True):
        assert got.support == pytest.approx(want.support)
        assert got.confidence == pytest.approx(want.confidence)
        assert got.lift == pytest.approx(want.lift)


def test_min_confidence_is_inclusive_and_exact():
    patterns = mine(RULE_SESSIONS, 0.5)
    assert sides(rules(patterns, 0.7)) == [(G + F, G)]
    assert len(rules(patterns, 1.0)) == 1
    assert len(rules(patterns, 2 / 3)) == 6  # confidence 2/3 meets the float 2/3
    assert len(rules(patterns, 0.6667)) == 1


def test_rules_need_the_subpatterns():
    patterns = [p for p in mine(RULE_SESSIONS, 0.5) if p.sequence != F + G]
    with pytest.raises(ValueError, match="missing"):
        rules(patterns, 0.0)


def test_rules_of_platform_sessions_follow_the_definition():
    patterns = mine(platform_sessions(5, 800), 0.05)
    by_sequence = {p.sequence: p for p in patterns}
    found = rules(patterns, 0.5)
    assert found
    for rule in found:
        whole = by_sequence[rule.antecedent + rule.consequent]
        assert rule.support == whole.support
        assert rule.confidence == whole.count / by_sequence[rule.antecedent].count >= 0.5
        assert rule.lift == pytest.approx(rule.confidence / by_sequence[rule.consequent].support)


@pytest.mark.parametrize("sessions", [[], {}, Counter(), iter([])])
def test_no_sessions_no_patterns(sessions):
    assert mine(sessions, 0.1) == []
    assert rules([], 0.5) == []


def test_empty_sessions_count_in_the_denominator():
    found = mine([["generate"], [], [], []], 0.25)
    assert found == [SequentialPattern(("generate",), 1, 0.25)]
    assert mine([[], []], 0.5) == []


def test_one_session():
    found = mine([["generate", "ok"]], 1.0)
    assert counts(found) == {G: 1, K: 1, G + K: 1}
    assert {(r.antecedent, r.consequent, r.support, r.confidence, r.lift) for r in rules(found, 1.0)} == {
        (G, K, 1.0, 1.0, 1.0)
    }


def test_sessions_of_one_event():
    found = mine([["generate"], ["generate"], ["ok"], ["timeout"]], 0.25)
    assert counts(found) == {G: 2, K: 1, ("timeout",): 1}
    assert rules(found, 0.0) == []


def test_all_identical_sessions_at_min_support_one():
    session = ["generate", "fail", "retry", "generate", "ok"]
    found = mine([session] * 50, 1.0)
    assert counts(found) == dict.fromkeys(subsequences(session), 50)
    assert all(p.support == 1.0 for p in found)
    assert all(r.confidence == 1.0 and r.lift == 1.0 for r in rules(found, 1.0))


def test_min_support_one_keeps_only_what_every_session_has():
    found = mine([["generate", "ok"], ["generate", "timeout"], ["generate", "ok", "generate"]], 1.0)
    assert counts(found) == {G: 3}


def test_a_long_repetitive_session_does_not_recurse():
    found = mine([["retry"] * 3000], 1.0)
    assert len(found) == 3000
    assert found[-1].sequence == ("retry",) * 3000


@pytest.mark.parametrize("value", [0, -0.1, 1.01, float("nan")])
def test_min_support_out_of_range(value):
    with pytest.raises(ValueError, match="min_support"):
        mine([["generate"]], value)
    with pytest.raises(ValueError, match="min_support"):
        mine([], value)


@pytest.mark.parametrize("value", [-0.01, 1.5, float("nan")])
def test_min_confidence_out_of_range(value):
    with pytest.raises(ValueError, match="min_confidence"):
        rules([], value)


def test_bad_inputs():
    with pytest.raises(ValueError, match="max_length"):
        mine([["generate"]], 0.5, max_length=0)
    with pytest.raises(TypeError, match="not a string"):
        mine(["generate ok"], 0.5)
    with pytest.raises(ValueError, match="count"):
        mine({("generate",): -1}, 0.5)


def test_read_sessions_deduplicates_and_skips_blank_lines(tmp_path):
    path = tmp_path / "sessions.txt"
    path.write_bytes(b"generate ok\n\ngenerate  ok\r\n   \ngenerate\tsyntax_error retry ok\n\xc3\xa9tape ok")
    assert read_sessions(path) == Counter(
        {("generate", "ok"): 2, ("generate", "syntax_error", "retry", "ok"): 1, ("étape", "ok"): 1}
    )


def test_read_sessions_names_the_broken_line(tmp_path):
    path = tmp_path / "sessions.txt"
    path.write_bytes(b"generate ok\n\ngenerate \xff\xfe ok\n")
    with pytest.raises(ValueError, match=rf"{path}:3: not valid UTF-8"):
        read_sessions(path)
    path.write_bytes(b"generate ok\ngenerate\x00 ok\n")
    with pytest.raises(ValueError, match=rf"{path}:2: non-printable"):
        read_sessions(path)


def test_analyze_file(tmp_path):
    path = tmp_path / "sessions.txt"
    path.write_text("\n".join(" ".join(s) for s in RULE_SESSIONS) + "\n\n")
    result = analyze_file(path, min_support=0.5, min_confidence=0.7)
    assert set(result) == {"patterns", "rules"}
    assert result["patterns"][:3] == [
        {"sequence": ["fail"], "support": 0.75},
        {"sequence": ["generate"], "support": 0.75},
        {"sequence": ["ok"], "support": 0.5},
    ]
    assert len(result["patterns"]) == 8
    assert result["rules"] == [
        {
            "antecedent": ["generate", "fail"],
            "consequent": ["generate"],
            "support": 0.5,
            "confidence": 1.0,
            "lift": 1 / 0.75,
        }
    ]


def test_analyze_file_defaults_and_empty_file(tmp_path):
    path = tmp_path / "sessions.txt"
    path.write_text("\n \n")
    assert analyze_file(path) == {"patterns": [], "rules": []}


def test_library_does_not_import_airflow():
    code = (
        "import sys, aitl.mining.sequences; sys.exit(any(m.split('.')[0] == 'airflow' for m in sys.modules))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent)
