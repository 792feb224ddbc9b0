"""The compiled decimal-to-binary64 conversion rounds exactly as Python's ``float`` (and msgspec) do."""

from __future__ import annotations

import random
import struct
from decimal import Decimal, localcontext

import pytest

from aitl.ingest.floats import to_double


def _parts(text: str) -> tuple[int, int]:
    """The significand (at most 19 digits, as int64 bits) and power of ten of a JSON number."""
    mantissa, _, exponent = text.lower().partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0") or "0"
    assert len(digits) <= 19, text
    significand = int(digits)
    if significand >= 1 << 63:  # as the reader's int64 holds it
        significand -= 1 << 64
    return significand, int(exponent or 0) - len(fraction)


def _bits(value: float) -> bytes:
    return struct.pack("<d", value)


def _check(texts: list[str]) -> int:
    """Every decided conversion equals ``float``'s, bit for bit; how many were left undecided."""
    undecided = 0
    for text in texts:
        value, decided = to_double(*_parts(text))
        if not decided:
            undecided += 1
            continue
        assert _bits(value) == _bits(float(text)), text
    return undecided


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "0.0",
        "1e-400",  # rounds to zero
        "4.9406564584124654e-324",  # the smallest subnormal
        "2.4703282292062328e-324",  # just above half of it: rounds up
        "2.4703282292062327e-324",  # just below: rounds to zero
        "2.2250738585072011e-308",  # the largest subnormal
        "2.2250738585072014e-308",  # the smallest normal
        "1.7976931348623157e308",  # the largest finite
        "1.7976931348623159e308",  # rounds to infinity
        "9007199254740993",  # 2**53 + 1: a tie, to even
        "9007199254740995",  # a tie, to even (up)
        "0.1",
        "1e23",
        "7735846642760817.5",  # a tie with a negative power of ten
        "9999999999999999999e-19",  # 19 digits beyond int64
        "9223372036854775808e-19",  # 2**63: the first significand past int64
    ],
)
def test_known_values(text: str) -> None:
    value, decided = to_double(*_parts(text))
    assert decided
    assert _bits(value) == _bits(float(text))


def test_every_double_written_as_python_writes_it() -> None:
    rng = random.Random(20261206)
    texts = []
    while len(texts) < 60_000:
        value = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(63)))[0]
        if value == value and value != float("inf"):
            texts.append(repr(value))
    texts += [repr(rng.random() * 10 ** rng.randint(-12, 12)) for _ in range(60_000)]
    assert _check(texts) == 0


def test_decimals_of_every_scale() -> None:
    rng = random.Random(7)
    texts = [
        f"{rng.randint(0, 10**9)}.{rng.randint(0, 10**9)}e{rng.randint(-345, 310)}" for _ in range(60_000)
    ]
    assert _check(texts) == 0


def test_halfway_between_two_doubles_and_next_to_it() -> None:
    """Exact midpoints (ties to even) and their neighbours one unit in the 19th digit away."""
    rng = random.Random(11)
    texts = []
    with localcontext() as context:
        context.prec = 60
        for _ in range(20_000):
            mantissa, exponent = rng.getrandbits(53) | 1 << 52, rng.randint(-62, 10)
            midpoint = Decimal(2 * mantissa + 1) * Decimal(2) ** (exponent - 1)
            written = format(midpoint.normalize(), "f")
            whole, _, fraction = written.partition(".")
            if len((whole + fraction).lstrip("0")) > 19:
                continue
            texts.append(written)
            unit = Decimal(1).scaleb(-len(fraction))
            texts += [format(midpoint - unit, "f"), format(midpoint + unit, "f")]
    assert len(texts) > 10_000
    assert _check(texts) <= len(texts) // 1000  # undecided ones go to Python's float
