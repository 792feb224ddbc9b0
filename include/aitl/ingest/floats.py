"""Decimal to IEEE binary64, exactly rounded, in compiled code: the Eisel-Lemire algorithm.

The columnar reader (``aitl.ingest.jsonscan``) must store the very float
``contract.decode`` would (msgspec rounds exactly). Clinger's fast path covers
floats of at most 15 significant digits with a power of ten within 22 (one
exactly rounded division or product); the full-precision floats most
producers write (Python's ``repr``, 16 to 17 digits) need the rest: Lemire,
"Number Parsing at a Gigabyte per Second" (2021), as in Rust's
``core::num::dec2flt::lemire`` and Go's ``strconv``. For a
significand of at most 19 digits it either returns the exactly rounded value
or reports that it cannot decide (a near-halfway case, about one in millions
of random inputs), and the caller converts that one with Python's ``float``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

SMALLEST_POWER, LARGEST_POWER = -342, 308  # below: the value rounds to 0; above: to infinity
_U = np.uint64
_ONES = _U(0xFFFF_FFFF_FFFF_FFFF)
_LOW32 = _U(0xFFFF_FFFF)
_MASK = _ONES >> _U(55)  # 52 significand bits, the hidden bit, one to round and one spare
_SIGNIFICAND = _U(52)
_POW10 = np.array([10.0**k for k in range(23)])  # exact in binary64


def _powers_of_five() -> np.ndarray:
    """5**q for q in [-342, 308] as 128 bits with the top bit set: (high, low) rows.

    Built as fast_float builds its table: positive powers truncated; a negative power's
    reciprocal rounded up, from 128 bits for q >= -27 (so that exact halfway cases are seen
    as such) and truncated from twice the precision below that.
    """
    rows = []
    for q in range(SMALLEST_POWER, LARGEST_POWER + 1):
        power = 5 ** abs(q)
        bits = power.bit_length()
        if q >= 0:
            value = power >> (bits - 128) if bits > 128 else power << (128 - bits)
        elif q >= -27:
            value = (1 << (bits + 127)) // power + 1
        else:
            value = (1 << (2 * bits + 128)) // power + 1
            value >>= value.bit_length() - 128
        rows.append((value >> 64, value & ((1 << 64) - 1)))
    return np.array(rows, dtype=np.uint64)


_POWERS_OF_FIVE = _powers_of_five()


@njit(cache=True, inline="always")
def _multiply(a: np.uint64, b: np.uint64) -> tuple[np.uint64, np.uint64]:
    """The full 128-bit product of two 64-bit words: (high, low)."""
    a_low, a_high = a & _LOW32, a >> _U(32)
    b_low, b_high = b & _LOW32, b >> _U(32)
    low_low = a_low * b_low
    low_high = a_low * b_high
    high_low = a_high * b_low
    middle = (low_low >> _U(32)) + (low_high & _LOW32) + (high_low & _LOW32)
    low = (middle << _U(32)) | (low_low & _LOW32)
    high = a_high * b_high + (low_high >> _U(32)) + (high_low >> _U(32)) + (middle >> _U(32))
    return high, low


@njit(cache=True)
def to_double(significand: int, power: int) -> tuple[float, bool]:
    """``significand * 10**power`` exactly rounded, and whether it could be decided here.

    ``significand`` must be exact: at most 19 digits (an int64 that wrapped past 2**63 is read
    back as the unsigned value it holds). When the second value is False the first is
    meaningless: convert the text with Python's ``float``.
    """
    if 0 <= significand < 10**15 and -22 <= power <= 22:  # Clinger: one exactly rounded operation
        return significand * _POW10[power] if power >= 0 else significand / _POW10[-power], True
    w = _U(significand)
    if w == _U(0) or power < SMALLEST_POWER:
        return 0.0, True
    if power > LARGEST_POWER:
        return np.inf, True
    zeros = 0
    while w < _U(1) << _U(63):
        w <<= _U(1)
        zeros += 1
    high5 = _POWERS_OF_FIVE[power - SMALLEST_POWER, 0]
    low5 = _POWERS_OF_FIVE[power - SMALLEST_POWER, 1]
    high, low = _multiply(w, high5)
    if high & _MASK == _MASK:  # the truncated product may be one short: add the next 64 bits
        second_high, _ = _multiply(w, low5)
        low += second_high
        if second_high > low:
            high += _U(1)
    if low == _ONES and not -27 <= power <= 55:
        return 0.0, False
    upper = int(high >> _U(63))
    mantissa = high >> _U(upper + 9)
    exponent = ((power * (152_170 + 65_536)) >> 16) + 63 + upper - zeros + 1023
    if exponent <= 0:  # subnormal
        if 1 - exponent >= 64:
            return 0.0, True
        mantissa >>= _U(1 - exponent)
        mantissa += mantissa & _U(1)
        mantissa >>= _U(1)
        return math.ldexp(float(mantissa), -1074), True
    if (
        low <= _U(1)
        and -4 <= power <= 23
        and mantissa & _U(3) == _U(1)
        and (mantissa << _U(upper + 9)) == high
    ):
        mantissa &= ~_U(1)  # exactly halfway: round to even (down)
    mantissa += mantissa & _U(1)
    mantissa >>= _U(1)
    if mantissa >= _U(2) << _SIGNIFICAND:
        mantissa = _U(1) << _SIGNIFICAND
        exponent += 1
    if exponent >= 0x7FF:
        return np.inf, True
    return math.ldexp(float(mantissa), exponent - 1075), True  # 53 bits: exact
