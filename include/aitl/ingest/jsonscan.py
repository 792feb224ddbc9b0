"""A compiled, strict reader of contract JSON lines: the columnar path's decode and checks.

``aitl.ingest.columnar`` hands whole chunks of a landing file here. Each line
is read once, in parallel across lines, by a small JSON grammar that knows the
contract's fields (compiled by numba; no compiler needed where it runs). A
line is *accepted* only when this reader proves that ``contract.decode`` would
accept it and store the same values; everything else is left to the
per-record path, so quarantine reasons stay exact. Conservative on purpose:

* the line is one JSON object of known keys, none repeated (msgspec ignores
  unknown keys and keeps the last of repeated ones: such lines go record by
  record), with whitespace only between tokens;
* strings are printable ASCII without a backslash: a string is its bytes
  between two quotes, and lengths are byte counts;
* numbers follow JSON's grammar without a sign (a negative is valid only as
  -0); integers fit 64 bits; a float of at most 19 significant digits is
  converted exactly rounded (``aitl.ingest.floats``), one with more digits, or
  one of the rare near-halfway cases that algorithm leaves, by Python's
  ``float``;
* ``errors`` items hold exactly ``type`` and ``message`` (either order),
  lists of indicators hold strings; both are stored as orjson writes them
  (no whitespace, an item's ``type`` first), which is what ``texts`` writes;
* timestamps are ``YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+00:00)`` with a real
  calendar date, stored as the store's UTC text.

Speed and the reason it exists: BENCHMARKS.md, "Where columnar ingest stands
against its floors".
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from aitl.ingest.floats import to_double

# How a field's value is read; the kind table is built by ``aitl.ingest.columnar``.
STRING, INTEGER, FLOAT, BOOLEAN, ARM, INDICATORS, ERRORS, TIMESTAMP = range(8)
MISSING, NULL, PRESENT = 0, 1, 2  # a field's state on a line
TS_WIDTH = 26  # YYYY-MM-DD HH:MM:SS.ffffff
_DAYS = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


@njit(cache=True, inline="always")
def _ws(d: Any, p: int, e: int) -> int:
    while p < e and (d[p] == 32 or d[p] == 9 or d[p] == 13 or d[p] == 10):
        p += 1
    return p


@njit(cache=True, inline="always")
def _string(d: Any, p: int, e: int) -> int:
    """After the closing quote of the plain string opening at ``p``; -1 if none or not plain."""
    if p >= e or d[p] != 34:
        return -1
    p += 1
    while p < e:
        c = d[p]
        if c == 34:
            return p + 1
        if c < 32 or c > 126 or c == 92:
            return -1
        p += 1
    return -1


@njit(cache=True, inline="always")
def _literal(d: Any, p: int, e: int, text: Any) -> bool:
    if p + len(text) > e:
        return False
    for k in range(len(text)):  # noqa: SIM110 (numba compiles loops, not generators)
        if d[p + k] != text[k]:
            return False
    return True


@njit(cache=True)
def _number(d: Any, p: int, e: int) -> tuple[int, bool, int, int, int]:
    """JSON number at ``p`` (no sign): (end or -1, integral, significand, power of ten, digits).

    ``digits`` counts significant digits (the significand holds the first 19).
    """
    q = p
    significand = 0
    digits = 0
    power = 0
    if q >= e or d[q] < 48 or d[q] > 57:
        return -1, False, 0, 0, 0
    if d[q] == 48:
        q += 1
    else:
        while q < e and 48 <= d[q] <= 57:
            if digits < 19:
                significand = significand * 10 + (d[q] - 48)
                digits += 1
            else:
                power += 1
                digits += 1
            q += 1
    integral = True
    if q < e and d[q] == 46:
        integral = False
        q += 1
        if q >= e or d[q] < 48 or d[q] > 57:
            return -1, False, 0, 0, 0
        while q < e and 48 <= d[q] <= 57:
            if digits == 0 and d[q] == 48:
                power -= 1
            elif digits < 19:
                significand = significand * 10 + (d[q] - 48)
                digits += 1
                power -= 1
            else:
                digits += 1
            q += 1
    if q < e and (d[q] == 101 or d[q] == 69):
        integral = False
        q += 1
        sign = 1
        if q < e and (d[q] == 43 or d[q] == 45):
            sign = -1 if d[q] == 45 else 1
            q += 1
        if q >= e or d[q] < 48 or d[q] > 57:
            return -1, False, 0, 0, 0
        exponent = 0
        while q < e and 48 <= d[q] <= 57:
            if exponent < 100000:
                exponent = exponent * 10 + (d[q] - 48)
            q += 1
        power += sign * exponent
    return q, integral, significand, power, digits


_INT64_MAX = np.frombuffer(b"9223372036854775807", dtype=np.uint8)


@njit(cache=True)
def _fits_int64(d: Any, p: int) -> bool:
    """Whether the 19 digits at ``p`` are at most 2**63 - 1 (so the significand did not overflow)."""
    for t in range(19):
        if d[p + t] != _INT64_MAX[t]:
            return d[p + t] < _INT64_MAX[t]
    return True


_TYPE_KEY = np.frombuffer(b'"type"', dtype=np.uint8)
_MESSAGE_KEY = np.frombuffer(b'"message"', dtype=np.uint8)
_NULL = np.frombuffer(b"null", dtype=np.uint8)
_TRUE = np.frombuffer(b"true", dtype=np.uint8)
_FALSE = np.frombuffer(b"false", dtype=np.uint8)
_CONTROL = np.frombuffer(b'"control"', dtype=np.uint8)
_VARIANT = np.frombuffer(b'"variant"', dtype=np.uint8)


@njit(cache=True)
def _error_item(d: Any, p: int, e: int) -> tuple[int, int, int, int, int]:
    """``{"type": "...", "message": "..." | null}`` at ``p``, keys in either order.

    Returns (end or -1, the type's span, the message's span: both with their
    quotes, the message's ``null`` as it is).
    """
    if p >= e or d[p] != 123:
        return -1, 0, 0, 0, 0
    spans = np.zeros(4, dtype=np.int64)  # type start, end; message start, end
    p = _ws(d, p + 1, e)
    for pair in range(2):
        if _literal(d, p, e, _TYPE_KEY):
            at, p = 0, _ws(d, p + 6, e)
        elif _literal(d, p, e, _MESSAGE_KEY):
            at, p = 2, _ws(d, p + 9, e)
        else:
            return -1, 0, 0, 0, 0
        if spans[at + 1] or p >= e or d[p] != 58:
            return -1, 0, 0, 0, 0
        p = _ws(d, p + 1, e)
        q = p + 4 if at == 2 and _literal(d, p, e, _NULL) else _string(d, p, e)
        if q < 0:
            return -1, 0, 0, 0, 0
        spans[at], spans[at + 1] = p, q
        p = _ws(d, q, e)
        if pair == 0:
            if p >= e or d[p] != 44:
                return -1, 0, 0, 0, 0
            p = _ws(d, p + 1, e)
    if p >= e or d[p] != 125 or not 1 <= spans[1] - spans[0] - 2 <= 64 or spans[3] - spans[2] - 2 > 2000:
        return -1, 0, 0, 0, 0
    return p + 1, spans[0], spans[1], spans[2], spans[3]


@njit(cache=True)
def _list(d: Any, p: int, e: int, errors: bool) -> tuple[int, int]:
    """A list at ``p``, at most 100 items: (end or -1, its compact length as the store keeps it).

    Items are strings of at most 200 bytes, or with ``errors`` ``_error_item`` objects.
    """
    p = _ws(d, p + 1, e)
    if p < e and d[p] == 93:
        return p + 1, 2
    size = 1
    items = 0
    while True:
        if errors:
            q, type_start, type_end, message_start, message_end = _error_item(d, p, e)
            if q < 0:
                return -1, 0
            size += 8 + type_end - type_start + 11 + message_end - message_start + 1  # {"type":...}
        else:
            q = _string(d, p, e)
            if q < 0 or q - p - 2 > 200:
                return -1, 0
            size += q - p
        size += 1  # the comma or bracket after the item
        items += 1
        if items > 100:
            return -1, 0
        p = _ws(d, q, e)
        if p < e and d[p] == 44:
            p = _ws(d, p + 1, e)
            continue
        if p < e and d[p] == 93:
            return p + 1, size
        return -1, 0


@njit(cache=True, inline="always")
def _two(d: Any, p: int) -> int:
    return (d[p] - 48) * 10 + d[p + 1] - 48


@njit(cache=True)
def _timestamp(d: Any, p: int, e: int, out: Any) -> int:
    """A timestamp string at ``p`` into ``out`` as the store's text; its end, or -1."""
    q = _string(d, p, e)
    if q < 0:
        return -1
    n = q - p - 2
    s = p + 1
    if n < 20 or n > 32:
        return -1
    for k in (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18):
        if d[s + k] < 48 or d[s + k] > 57:
            return -1
    if (
        d[s] == 48
        or d[s + 4] != 45
        or d[s + 7] != 45
        or d[s + 10] != 84
        or d[s + 13] != 58
        or d[s + 16] != 58
    ):
        return -1
    year = (d[s] - 48) * 1000 + (d[s + 1] - 48) * 100 + _two(d, s + 2)
    month = _two(d, s + 5)
    day = _two(d, s + 8)
    if not 1 <= month <= 12 or day < 1 or day > _DAYS[month]:
        return -1
    if month == 2 and day == 29 and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        return -1
    if _two(d, s + 11) > 23 or _two(d, s + 14) > 59 or _two(d, s + 17) > 59:
        return -1
    k = 19
    fraction = 0
    if d[s + k] == 46:
        k += 1
        while k < n and 48 <= d[s + k] <= 57:
            fraction += 1
            k += 1
        if not 1 <= fraction <= 6:
            return -1
    rest = n - k
    if rest == 1:
        if d[s + k] != 90:
            return -1
    elif rest == 6:
        if d[s + k] != 43 or d[s + k + 1] != 48 or d[s + k + 2] != 48 or d[s + k + 3] != 58:
            return -1
        if d[s + k + 4] != 48 or d[s + k + 5] != 48:
            return -1
    else:
        return -1
    for t in range(19):
        out[t] = d[s + t]
    out[10] = 32
    out[19] = 46
    for t in range(6):
        out[20 + t] = d[s + 20 + t] if t < fraction else 48
    return q


@njit(cache=True)
def _key(d: Any, s: int, n: int, keys: Any, candidates: Any) -> int:
    """The contract field whose name is ``d[s:s+n]``, or -1 (``candidates``: by first byte and length)."""
    if n <= 0 or n >= candidates.shape[1]:
        return -1
    for j in range(candidates.shape[2]):
        k = candidates[d[s], n, j]
        if k < 0:
            return -1
        same = True
        for t in range(n):
            if d[s + t] != keys[k, t]:
                same = False
                break
        if same:
            return k
    return -1


@njit(cache=True)
def _line(
    d: Any,
    p: int,
    e: int,
    i: int,
    keys: Any,
    candidates: Any,
    kind: Any,
    low: Any,
    high: Any,
    state: Any,
    start: Any,
    stop: Any,
    ints: Any,
    floats: Any,
    slow: Any,
    ts: Any,
) -> bool:
    """Read line ``i`` (bytes ``p:e``) into the outputs; whether it is surely accepted."""
    p = _ws(d, p, e)
    if p >= e or d[p] != 123:
        return False
    p = _ws(d, p + 1, e)
    seen = 0
    while True:
        q = _string(d, p, e)
        if q < 0:
            return False
        k = _key(d, p + 1, q - p - 2, keys, candidates)
        if k < 0 or (seen >> k) & 1:
            return False
        seen |= 1 << k
        p = _ws(d, q, e)
        if p >= e or d[p] != 58:
            return False
        p = _ws(d, p + 1, e)
        if p >= e:
            return False
        start[i, k] = p
        kind_k = kind[k]
        if _literal(d, p, e, _NULL):
            state[i, k] = NULL
            q = p + 4
        elif kind_k == STRING:
            q = _string(d, p, e)
            if q < 0 or not low[k] <= q - p - 2 <= high[k]:
                return False
            state[i, k] = PRESENT
        elif kind_k in (INTEGER, FLOAT):
            q, integral, significand, power, digits = _number(d, p, e)
            if q < 0:
                return False
            if kind_k == INTEGER:
                if not integral or digits > 19 or significand < low[k]:
                    return False
                if digits == 19 and not _fits_int64(d, p):
                    return False
                ints[i, k] = significand
            else:
                value, exact = to_double(significand, power) if digits <= 19 else (0.0, False)
                if not exact:
                    slow[i, k] = True
                elif value < low[k] or value > high[k]:
                    return False
                else:
                    floats[i, k] = value
            state[i, k] = PRESENT
        elif kind_k == BOOLEAN:
            if _literal(d, p, e, _TRUE):
                ints[i, k] = 1
                q = p + 4
            elif _literal(d, p, e, _FALSE):
                q = p + 5
            else:
                return False
            state[i, k] = PRESENT
        elif kind_k == ARM:
            if _literal(d, p, e, _CONTROL) or _literal(d, p, e, _VARIANT):
                q = p + 9
            else:
                return False
            state[i, k] = PRESENT
        elif kind_k in (INDICATORS, ERRORS):
            if d[p] != 91:
                return False
            q, size = _list(d, p, e, kind_k == ERRORS)
            if q < 0:
                return False
            ints[i, k] = size
            state[i, k] = PRESENT
        else:
            q = _timestamp(d, p, e, ts[i])
            if q < 0:
                return False
            state[i, k] = PRESENT
        stop[i, k] = q
        p = _ws(d, q, e)
        if p < e and d[p] == 44:
            p = _ws(d, p + 1, e)
            continue
        if p < e and d[p] == 125:
            return _ws(d, p + 1, e) == e
        return False


@njit(parallel=True, cache=True)
def scan(
    d: Any,
    begins: Any,
    ends: Any,
    skip: Any,
    keys: Any,
    candidates: Any,
    kind: Any,
    low: Any,
    high: Any,
    required: Any,
) -> tuple[Any, ...]:
    """Read every line ``d[begins[i]:ends[i]]`` (``skip``: leave to the per-record path).

    Returns ``ok`` and, per line and field, the state, the value's span, the
    integer (a list's compact length, 1 for true), the float, whether the float
    needs Python's conversion, and the timestamp's store text.
    """
    n = len(begins)
    fields = len(kind)
    ok = np.zeros(n, dtype=np.bool_)
    state = np.zeros((n, fields), dtype=np.int8)
    start = np.zeros((n, fields), dtype=np.int64)
    stop = np.zeros((n, fields), dtype=np.int64)
    ints = np.zeros((n, fields), dtype=np.int64)
    floats = np.zeros((n, fields), dtype=np.float64)
    slow = np.zeros((n, fields), dtype=np.bool_)
    ts = np.zeros((n, TS_WIDTH), dtype=np.uint8)
    for i in prange(n):
        if skip[i]:
            continue
        if _line(
            d,
            begins[i],
            ends[i],
            i,
            keys,
            candidates,
            kind,
            low,
            high,
            state,
            start,
            stop,
            ints,
            floats,
            slow,
            ts,
        ):
            good = True
            for k in range(fields):
                if required[k] and state[i, k] != PRESENT:
                    good = False
            ok[i] = good
    return ok, state, start, stop, ints, floats, slow, ts


TEXT, LIST, ERROR_LIST = range(3)  # how ``texts`` writes a field


@njit(cache=True)
def _copy(d: Any, s: int, e: int, data: Any, o: int) -> int:
    """``d[s:e]`` into ``data`` at ``o``; the end."""
    data[o : o + e - s] = d[s:e]
    return o + e - s


@njit(cache=True)
def _write_errors(d: Any, p: int, data: Any, o: int) -> None:
    """The ``errors`` list read at ``p`` as the store keeps it: ``[{"type":...,"message":...},...]``."""
    e = len(d)
    data[o] = 91
    o += 1
    p = _ws(d, p + 1, e)
    first = True
    while d[p] != 93:
        if not first:
            data[o] = 44
            o += 1
        first = False
        p, type_start, type_end, message_start, message_end = _error_item(d, p, e)
        o = _copy(_TYPE_OPEN, 0, len(_TYPE_OPEN), data, o)
        o = _copy(d, type_start, type_end, data, o)
        o = _copy(_MESSAGE_OPEN, 0, len(_MESSAGE_OPEN), data, o)
        o = _copy(d, message_start, message_end, data, o)
        data[o] = 125
        o += 1
        p = _ws(d, p, e)
        if d[p] == 44:
            p = _ws(d, p + 1, e)
    data[o] = 93


_TYPE_OPEN = np.frombuffer(b'{"type":', dtype=np.uint8)
_MESSAGE_OPEN = np.frombuffer(b',"message":', dtype=np.uint8)


@njit(parallel=True, cache=True)
def texts(
    d: Any, rows: Any, fields: Any, how: Any, state: Any, start: Any, stop: Any, ints: Any
) -> tuple[Any, Any, Any]:
    """The text of each of ``fields`` on ``rows``, written as ``how`` says for each.

    ``TEXT``: a string without its quotes; ``LIST``: a list as the store keeps
    it (no whitespace); ``ERROR_LIST``: likewise, each item's keys in the
    store's order.
    Returns per field its offsets (``offsets[f]``, from 0) and its bytes
    (``data[bases[f]:bases[f + 1]]``). A list that is null or missing reads
    ``null``, as the store keeps it; a string that is, is empty (its column
    masks it).
    """
    n = len(rows)
    count = len(fields)
    offsets = np.zeros((count, n + 1), dtype=np.int64)
    for r in prange(n):
        i = rows[r]
        for f in range(count):
            k = fields[f]
            if state[i, k] != PRESENT:
                offsets[f, r + 1] = 0 if how[f] == TEXT else 4
            else:
                offsets[f, r + 1] = stop[i, k] - start[i, k] - 2 if how[f] == TEXT else ints[i, k]
    bases = np.zeros(count + 1, dtype=np.int64)
    for f in range(count):
        offsets[f] = np.cumsum(offsets[f])
        bases[f + 1] = bases[f] + offsets[f, n]
    data = np.empty(bases[count], dtype=np.uint8)
    for r in prange(n):
        i = rows[r]
        for f in range(count):
            k = fields[f]
            o = bases[f] + offsets[f, r]
            if state[i, k] != PRESENT:
                if how[f] != TEXT:
                    _copy(_NULL, 0, 4, data, o)
            elif how[f] == TEXT:
                _copy(d, start[i, k] + 1, stop[i, k] - 1, data, o)
            elif how[f] == ERROR_LIST:
                _write_errors(d, start[i, k], data, o)
            else:
                quoted = False
                for p in range(start[i, k], stop[i, k]):
                    c = d[p]
                    if c == 34:
                        quoted = not quoted
                    elif not quoted and (c == 32 or c == 9 or c == 13 or c == 10):
                        continue
                    data[o] = c
                    o += 1
    return offsets, data, bases
