"""PrefixSpan with pseudo-projection, vectorised: the engine of :func:`aitl.mining.sequences.mine`.

Fast on any data (issue 13: long, mostly distinct sequences as well as the
platform's repetitive sessions):

* identical sessions are mined once with their multiplicity as weight, tokens
  in fewer sessions than the threshold are dropped first, and the rest are
  integer-encoded and laid end to end in flat arrays (:class:`Database`);
* a projected database is an array of *pointers* (the position where the
  prefix's leftmost embedding ends in a session) with weights; a token is in
  the rest after a pointer iff its last occurrence in the session comes later
  (a table of last occurrences, or a binary search when the table would be too
  big), and projecting moves each pointer to the token's first occurrence after
  it (stepping back from the last one);
* nodes of the search are expanded in batches: one batch's tests, counts and
  projections are a few array operations and two compiled loops (numba),
  whatever the number of prefixes; each node picks the cheaper way to find
  its extensions (test its candidate tokens, those that extended its parent,
  or gather every token of its rests);
* pointers are canonical (the first position with the same rest), so equal
  rests of different sessions merge into one weighted pointer, and prefixes
  with equal projections are expanded once (a pattern graph).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import chain

import numpy as np
from numba import njit, types
from numba.typed import Dict

# The number of the rest with no token left (_canonical).
_EMPTY = 0
_REST_KEY = types.UniTuple(types.int64, 2)  # a rest: (its first token, the number of the rest after it)
# About as many tokens as a rest holds, to estimate the work a node makes.
_REST_TOKENS = 16
# The table of last occurrences (tokens x distinct sessions) is built up to this
# many cells; beyond, last occurrences are found by binary search.
_TABLE_CELLS = 1 << 25
# Steps back from a token's last occurrence in a session towards its first one after
# a pointer before a binary search takes over (tokens rarely repeat much in a session).
_STEPS_BACK = 8
# Nodes are expanded in batches of about this many (pointer, candidate) tests, and
# of at most this many (node, token) counters.
_BATCH = 1 << 19
_BATCH_CELLS = 1 << 22


class Database:
    """The encoded sessions as flat arrays, for projecting and counting many projections at once.

    The distinct sessions (token ids, infrequent tokens dropped) are laid end to
    end: ``tokens[g]`` is the token at global position ``g``. A projected
    database is a set of *pointers*, the position of the prefix's last token in
    its first (leftmost) embedding in a session, each with the number of
    sessions it stands for; the *rest* after a pointer, up to the end of its
    session, is what the prefix can still be extended with. A token is in a
    rest iff its last occurrence in the session comes after the pointer, and
    the prefix extended by it points to its first occurrence after the pointer.

    ``canonical[g]`` is the first position whose rest is the same token sequence
    as the rest after ``g`` (-1 when the rest is empty): pointers are stored
    canonically, so that two prefixes whose projections hold the same rests, in
    whatever sessions, have equal arrays and are expanded once.
    """

    def __init__(self, encoded: Mapping[tuple[int, ...], int], n_tokens: int) -> None:
        sequences = list(encoded)
        n_sessions = self.n_sessions = len(sequences)
        lengths = np.fromiter(map(len, sequences), dtype=np.intp, count=n_sessions)
        self.weights = np.fromiter(encoded.values(), dtype=np.int64, count=n_sessions)
        ends = np.cumsum(lengths)
        self.starts = ends - lengths
        size = self.size = int(ends[-1])
        tokens = np.fromiter(chain.from_iterable(sequences), dtype=np.intp, count=size)
        # Positions fit in 32 bits but on the largest inputs: half the memory traffic.
        index = self.index = np.int32 if max(size, n_sessions * n_tokens) < 2**31 - 1 else np.int64
        self.session = np.repeat(np.arange(n_sessions, dtype=index), lengths)
        self.n_tokens = n_tokens
        # All positions by token, then by position: (token, position) keys, ascending.
        by_token = np.argsort(tokens, kind="stable").astype(index)
        self.by_token = by_token
        self.token_keys = tokens[by_token].astype(np.int64) * (size + 1) + by_token
        same = (tokens[by_token[1:]] == tokens[by_token[:-1]]) & (
            self.session[by_token[1:]] == self.session[by_token[:-1]]
        )
        # The previous occurrence of the same token in the same session (-1: none).
        self.previous = np.full(size, -1, dtype=index)
        self.previous[by_token[1:][same]] = by_token[:-1][same]
        # The last occurrences of each token in each session, in position order.
        last = np.ones(size, dtype=bool)
        last[by_token[:-1][same]] = False
        self.last_positions = np.flatnonzero(last).astype(index)
        self.last_tokens = tokens[self.last_positions]
        last_end = np.searchsorted(self.last_positions, ends)
        self.last_low = np.concatenate(([0], last_end[:-1]))  # per session
        self.last_high = last_end
        self.last_after = np.searchsorted(self.last_positions, np.arange(size), side="right")
        # Last occurrence by (token, session): a table, or sorted keys to search.
        cells = self.last_tokens.astype(index) * n_sessions + self.session[self.last_positions]
        # (The one not built is empty.)
        self.table = self.cells = self.cell_last = np.empty(0, dtype=index)
        if n_sessions * n_tokens <= _TABLE_CELLS:
            self.table = np.full(n_sessions * n_tokens, -1, dtype=index)
            self.table[cells] = self.last_positions
        else:
            order = np.argsort(cells)
            self.cells, self.cell_last = cells[order], self.last_positions[order]
        self.canonical = _canonical(tokens, self.starts, lengths).astype(index)
        # Whether a canonical position stands for the rests of other positions too.
        self.shared = np.bincount(self.canonical[self.canonical >= 0], minlength=size) > 1

    def roots(self) -> _Projection:
        """The projection of the empty pattern: every session, pointing before its first token."""
        return _Projection(
            (self.starts - 1).astype(self.index),
            np.arange(self.n_sessions, dtype=self.index),
            self.weights,
            bool((self.weights == 1).all()),
        )

    def first_after(self, tokens: np.ndarray, last: np.ndarray, after: np.ndarray) -> np.ndarray:
        """The first occurrence of each token after ``after``, given its last one in the session (later)."""
        found = last.copy()
        earlier = self.previous[found]
        back = earlier > after
        where, earlier, after = np.flatnonzero(back), earlier[back], after[back]
        for _ in range(_STEPS_BACK):  # only the pointers still moving back
            if len(where) == 0:
                return found
            found[where] = earlier
            earlier = self.previous[earlier]
            back = earlier > after
            where, earlier, after = where[back], earlier[back], after[back]
        if len(where):
            keys = tokens[where].astype(np.int64) * (self.size + 1) + after
            found[where] = self.by_token[np.searchsorted(self.token_keys, keys, side="right")]
        return found


@njit(cache=True)
def _canonical(tokens: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """For every position, the first position with an identical rest (-1: the rest is empty).

    Rests are numbered back to front, a rest being (first token, rest after it), so that
    equal rests of different sessions get one number.
    """
    numbers = Dict.empty(key_type=_REST_KEY, value_type=types.int64)
    rest_of = np.empty(len(tokens), dtype=np.int64)
    for session in range(len(starts)):
        rest = _EMPTY
        for position in range(starts[session] + lengths[session] - 1, starts[session] - 1, -1):
            rest_of[position] = rest
            key = (np.int64(tokens[position]), rest)
            number = numbers.get(key, -1)
            if number < 0:
                number = len(numbers) + 1
                numbers[key] = number
            rest = number
    first = np.full(len(numbers) + 1, -1, dtype=np.int64)
    for position in range(len(tokens) - 1, -1, -1):
        first[rest_of[position]] = position
    first[_EMPTY] = -1
    return first[rest_of]


@dataclass(frozen=True)
class _Projection:
    """Pointers (see :class:`Database`), their sessions, and how many sessions each stands for."""

    pointers: np.ndarray
    sessions: np.ndarray
    weights: np.ndarray
    unit: bool = False  # every weight is 1: counting needs no weights


@dataclass
class _Pending:
    """A node of the pattern graph still to expand."""

    node: int
    projection: _Projection
    room: float  # length still allowed
    candidates: np.ndarray  # tokens that may extend it (those that extended its parent)
    root: bool = False


def _expand(database: Database, batch: list[_Pending], threshold: int) -> list[_Extension]:
    """Every frequent extension of every node of ``batch``, all at once.

    Each node finds which of its rests hold which candidate the cheaper of two
    ways: gathering every token of every rest (the last occurrences in each
    session that lie after the pointer), or looking up each candidate's last
    occurrence in each pointer's session, when it has fewer candidates than its
    rests have tokens. Either way each (rest, token) found is a pointer that
    moves: from the token's last occurrence back to its first one after the old
    pointer. The moved pointers of the whole batch are made canonical, sorted by
    (extension, pointer) and merged (equal rests of different sessions) in one
    pass.
    """
    n_tokens = database.n_tokens
    pointers = np.concatenate([p.projection.pointers for p in batch])
    sessions = np.concatenate([p.projection.sessions for p in batch])
    weights = np.concatenate([p.projection.weights for p in batch])
    sizes = np.fromiter((len(p.projection.pointers) for p in batch), dtype=np.intp, count=len(batch))
    offsets = np.cumsum(sizes) - sizes
    owner = np.repeat(np.arange(len(batch)), sizes)
    high = database.last_high[sessions]
    # The root is expanded alone (the first batch): its pointers precede its sessions.
    low = database.last_low[sessions] if batch[0].root else database.last_after[pointers]
    distinct = high - low  # tokens in each rest
    candidates = [p.candidates for p in batch]
    tested = np.fromiter(map(len, candidates), dtype=np.intp, count=len(batch))
    lookup = tested * sizes < np.add.reduceat(distinct, offsets)
    codes, moving, lasts = [], [], []
    # Gathering every token of every rest, frequent ones kept.
    gathered = ~lookup[owner]
    if gathered.any():
        which = np.flatnonzero(gathered)
        code, which, entries = _gather(
            which, low, distinct[which], owner, weights, database.last_tokens, len(batch), n_tokens, threshold
        )
        codes.append(code)
        moving.append(which)
        lasts.append(database.last_positions[entries])
    # Looking up each candidate in each rest.
    if lookup.any():
        nodes = np.flatnonzero(lookup)
        pair_node = np.repeat(nodes, tested[nodes])
        pair_token = np.concatenate([candidates[i] for i in nodes.tolist()]).astype(np.int64)
        code, which, last = _look_up(
            pair_node,
            pair_token,
            sizes,
            offsets,
            pointers,
            sessions,
            weights,
            n_tokens,
            database.n_sessions,
            threshold,
            database.table,
            database.cells,
            database.cell_last,
        )
        codes.append(code)
        moving.append(which)
        lasts.append(last)
    code, which, last = np.concatenate(codes), np.concatenate(moving), np.concatenate(lasts)
    if len(code) == 0:
        return []
    token = code % n_tokens
    moved = database.canonical[database.first_after(token, last, pointers[which])]
    weight = weights[which]
    # Grouped by extension; in each group, the pointers whose rest is theirs alone come in
    # position order, and those standing for shared rests are sorted and merged apart.
    boundary = np.concatenate(([True], code[1:] != code[:-1]))
    starts = np.flatnonzero(boundary)
    group = np.cumsum(boundary) - 1
    extension, count = code[starts], np.add.reduceat(weight, starts)
    ended = moved < 0
    empty = np.bincount(group[ended], weights=weight[ended], minlength=len(starts))
    shared = database.shared[moved] & ~ended
    alone = ~(shared | ended)
    alone_group, alone_moved, alone_weight = group[alone], moved[alone], weight[alone]
    shared_group, shared_moved, shared_weight = group[shared], moved[shared], weight[shared]
    if len(shared_moved):
        order = np.argsort(shared_group * (database.size + 1) + shared_moved)
        shared_group, shared_moved, shared_weight = (
            shared_group[order],
            shared_moved[order],
            shared_weight[order],
        )
        merged = np.flatnonzero(
            np.concatenate(
                ([True], (shared_moved[1:] != shared_moved[:-1]) | (shared_group[1:] != shared_group[:-1]))
            )
        )
        shared_group, shared_moved = shared_group[merged], shared_moved[merged]
        shared_weight = np.add.reduceat(shared_weight, merged)
    groups = np.arange(len(starts) + 1)
    alone_bounds = np.searchsorted(alone_group, groups).tolist()
    shared_bounds = np.searchsorted(shared_group, groups).tolist()
    parents, tokens = divmod(extension, n_tokens)
    rows = zip(parents.tolist(), tokens.tolist(), count.tolist(), empty.tolist(), strict=True)
    found = []
    for index, (parent, token_id, total, ended_) in enumerate(rows):
        a0, a1, s0, s1 = (
            alone_bounds[index],
            alone_bounds[index + 1],
            shared_bounds[index],
            shared_bounds[index + 1],
        )
        if s0 == s1:
            moved_, weight_ = alone_moved[a0:a1], alone_weight[a0:a1]
        else:
            moved_ = np.concatenate((alone_moved[a0:a1], shared_moved[s0:s1]))
            weight_ = np.concatenate((alone_weight[a0:a1], shared_weight[s0:s1]))
        unit = batch[parent].projection.unit and s1 - s0 == np.count_nonzero(shared_weight[s0:s1] == 1)
        projection = _Projection(moved_, database.session[moved_], weight_, bool(unit))
        found.append(_Extension(batch[parent], token_id, total, int(ended_), projection))
    return found


@njit(cache=True)
def _gather(
    which: np.ndarray,
    low: np.ndarray,
    spans: np.ndarray,
    owner: np.ndarray,
    weights: np.ndarray,
    last_tokens: np.ndarray,
    nodes: int,
    n_tokens: int,
    threshold: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every token of the rests after pointers ``which`` as (extension code, pointer, entry), the
    frequent extensions only, grouped by code in ascending order and in pointer order within.

    An extension's code is ``owner * n_tokens + token``; entry ``e`` of a
    rest is the token's last occurrence in the session, ``last_tokens[e]`` the token. Three
    passes (count, number the frequent codes, place): a counting sort, no temporary per entry.
    """
    cells = nodes * n_tokens
    totals = np.zeros(cells, dtype=np.float64)
    for j in range(len(which)):
        i = which[j]
        for e in range(low[i], low[i] + spans[j]):
            totals[owner[i] * n_tokens + last_tokens[e]] += weights[i]
    rank = np.full(cells, -1, dtype=np.int64)
    frequent = 0
    for code in range(cells):
        if totals[code] >= threshold:
            rank[code] = frequent
            frequent += 1
    start = np.zeros(frequent + 1, dtype=np.int64)
    for j in range(len(which)):
        i = which[j]
        for e in range(low[i], low[i] + spans[j]):
            k = rank[owner[i] * n_tokens + last_tokens[e]]
            if k >= 0:
                start[k + 1] += 1
    for k in range(frequent):
        start[k + 1] += start[k]
    codes = np.empty(start[frequent], dtype=np.int64)
    pointers = np.empty(start[frequent], dtype=np.int64)
    entries = np.empty(start[frequent], dtype=np.int64)
    for j in range(len(which)):
        i = which[j]
        for e in range(low[i], low[i] + spans[j]):
            code = owner[i] * n_tokens + last_tokens[e]
            k = rank[code]
            if k >= 0:
                at = start[k]
                codes[at], pointers[at], entries[at] = code, i, e
                start[k] = at + 1
    return codes, pointers, entries


@njit(cache=True)
def _look_up(
    pair_node: np.ndarray,
    pair_token: np.ndarray,
    sizes: np.ndarray,
    offsets: np.ndarray,
    pointers: np.ndarray,
    sessions: np.ndarray,
    weights: np.ndarray,
    n_tokens: int,
    n_sessions: int,
    threshold: int,
    table: np.ndarray,
    cells: np.ndarray,
    cell_last: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each (node, candidate token) pair looked up in each of the node's rests: (extension code,
    pointer, last occurrence) of every rest holding the token, for the pairs whose rests hold it
    often enough; in pair order, then pointer order. A token is in the
    rest iff its last occurrence in the session (the table, or a binary search) is after the pointer.
    """
    totals = np.zeros(len(pair_node), dtype=np.float64)
    for p in range(len(pair_node)):
        node, token = pair_node[p], pair_token[p]
        for i in range(offsets[node], offsets[node] + sizes[node]):
            if _last(token * n_sessions + sessions[i], table, cells, cell_last) > pointers[i]:
                totals[p] += weights[i]
    codes, which, lasts = [], [], []
    for p in range(len(pair_node)):
        if totals[p] < threshold:
            continue
        node, token = pair_node[p], pair_token[p]
        for i in range(offsets[node], offsets[node] + sizes[node]):
            last = _last(token * n_sessions + sessions[i], table, cells, cell_last)
            if last > pointers[i]:
                codes.append(node * n_tokens + token)
                which.append(i)
                lasts.append(last)
    return np.array(codes, dtype=np.int64), np.array(which, dtype=np.int64), np.array(lasts, dtype=np.int64)


@njit(cache=True, inline="always")
def _last(cell: int, table: np.ndarray, cells: np.ndarray, cell_last: np.ndarray) -> int:
    """A token's last occurrence in a session by its cell, ``token * n_sessions + session`` (-1: none).

    ``Database.table`` when it was built (not empty), else a binary search of ``Database.cells``.
    """
    if len(table):
        return table[cell]
    at = np.searchsorted(cells, cell)
    return cell_last[at] if at < len(cells) and cells[at] == cell else -1


@dataclass(frozen=True)
class _Extension:
    """A frequent extension of a node: the token, its count, and where the extended prefix points."""

    parent: _Pending
    token: int
    count: int
    empty: int  # sessions whose rest ended with the token
    projection: _Projection


def pattern_graph(
    database: Database, threshold: int, max_length: int | None
) -> tuple[list[int], list[dict[int, int]]]:
    """Frequent patterns as a graph: each path from node 0 spells one pattern, the end node its count.

    A node is a distinct projected database (with, under ``max_length``, the
    length still allowed). Two prefixes with the same projection have the same
    extensions with the same counts (the observation behind CloSpan, Yan, Han &
    Afshar, SDM 2003), so each projection is expanded once. Retry loops make this
    pay: the 100,000 sessions of bench/sequences.py have 46,144 frequent patterns
    at min_support 0.01 but only 650 distinct projections. The graph is acyclic
    since every edge shortens the longest rest.

    Only the tokens that extend a prefix can extend its extensions (a pattern's
    count never exceeds its subsequences'), so they are a node's candidates.
    Nodes are expanded in batches (:func:`_expand`), so that the work per node
    is a few array operations shared with many others. Returns (count per node,
    token -> node per node).
    """
    roots = database.roots()
    counts = [int(roots.weights.sum())]
    edges: list[dict[int, int]] = [{}]
    nodes: dict[tuple[float, int, bytes, bytes], int] = {}
    room = math.inf if max_length is None else max_length
    everything = np.arange(database.n_tokens)
    pending = [_Pending(0, roots, room, everything, root=True)]
    while pending:
        batch, load = [], 0
        while pending and (not batch or load < _BATCH):
            batch.append(pending.pop())
            load += len(batch[-1].projection.pointers) * min(len(batch[-1].candidates), _REST_TOKENS)
            if len(batch) * database.n_tokens >= _BATCH_CELLS:
                break
        extensions = _expand(database, batch, threshold)
        extending: dict[int, list[int]] = {}
        for extension in extensions:
            extending.setdefault(extension.parent.node, []).append(extension.token)
        candidates = {node: np.array(tokens) for node, tokens in extending.items()}
        for parent, token, count, empty, projection in (
            (e.parent, e.token, e.count, e.empty, e.projection) for e in extensions
        ):
            key = (parent.room - 1, empty, projection.pointers.tobytes(), projection.weights.tobytes())
            target = nodes.get(key)
            if target is None:
                target = nodes[key] = len(counts)
                counts.append(count)
                edges.append({})
                if parent.room > 1 and len(projection.pointers):
                    kept = _Projection(  # copies: the batch's arrays are not kept alive
                        projection.pointers.copy(),
                        projection.sessions.copy(),
                        projection.weights.copy(),
                        projection.unit,
                    )
                    pending.append(_Pending(target, kept, parent.room - 1, candidates[parent.node]))
            edges[parent.node][token] = target
    return counts, edges


def paths(
    counts: list[int], edges: list[dict[int, int]], tokens: list[str]
) -> Iterator[tuple[tuple[str, ...], int]]:
    """Every (pattern, count) of the pattern graph, spelled in tokens."""
    stack: list[tuple[tuple[str, ...], int]] = [((), 0)]
    while stack:
        prefix, node = stack.pop()
        for token, target in edges[node].items():
            pattern = (*prefix, tokens[token])
            yield pattern, counts[target]
            stack.append((pattern, target))
