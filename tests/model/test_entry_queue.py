"""The migration list's views (EntryQueue) against a plain list of entries."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.model.policies._kmmscand.queue import EntryQueue

_chunks = st.lists(st.tuples(st.integers(1, 6), st.floats(0, 10)), min_size=0, max_size=5)


def _build(chunks, consumed):
    q, plain, page = EntryQueue(1000), [], 0
    for size, vis in chunks:
        pages = np.arange(page, page + size)
        page += size
        q.push(pages, vis)
        at = max([v for _, v in plain[-1:]] + [vis])  # visible times never decrease
        plain += [(int(p), at) for p in pages]
    k = min(consumed, len(plain))
    q.consume(k)
    return q, plain[k:]


@settings(max_examples=300, deadline=None)
@given(_chunks, st.integers(0, 8), st.integers(0, 12), st.integers(0, 12))
def test_peek_pieces_is_the_plain_lists_slice(chunks, consumed, m, skip):
    q, plain = _build(chunks, consumed)
    pages, ends, vis = q.peek_pieces(m, skip)
    want = plain[skip:skip + m]
    assert pages.tolist() == [p for p, _ in want]
    # Pieces: each entry's visible time is its piece's; pieces end where told.
    assert len(ends) == len(vis) and (len(ends) == 0 or ends[-1] == len(want))
    piece = np.searchsorted(ends, np.arange(len(want)), side="right")
    assert [float(vis[j]) for j in piece] == [v for _, v in want]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 8), min_size=1, max_size=6), st.integers(0, 20))
def test_owned_pushes_keep_their_entries(fills, consumed):
    """An owned push may keep a view of the caller's buffer instead of a copy:
    the list's entries are those pushed, whichever it keeps. Pushes not owned
    (every other one) come from one buffer the caller writes again (as the
    scanner's buffer of a large VMA): the list copies them."""
    q, plain, page = EntryQueue(1000), [], 0
    shared = np.empty(8, dtype=np.int32)
    for i, fill in enumerate(fills):
        owned = i % 2 == 0
        # Owned: a fresh buffer each push, as the scanner's walk of a small VMA.
        buf = np.empty(8, dtype=np.int32) if owned else shared
        buf[:fill] = np.arange(page, page + fill)
        page += fill
        q.push(buf[:fill], 0.0, owned=owned)
        plain += list(range(page - fill, page))
    shared[:] = -1  # the caller's next use of its buffer
    k = min(consumed, len(plain))
    q.consume(k)
    assert q.peek(q.length)[0].tolist() == plain[k:]


@settings(max_examples=300, deadline=None)
@given(_chunks, st.integers(0, 8), st.integers(0, 12), st.integers(0, 12))
def test_peek_two_is_the_first_two_pieces_of_peek_pieces(chunks, consumed, m, skip):
    q, plain = _build(chunks, consumed)
    pages, ends, vis = q.peek_pieces(m, skip)
    first, more, first_vis, more_vis = q.peek_two(m, skip)
    k = min(len(ends), 2)
    assert first.tolist() + more.tolist() == pages[:ends[k - 1] if k else 0].tolist()
    assert len(first) == (ends[0] if k else 0)
    assert len(more) == (ends[1] - ends[0] if k == 2 else 0)
    # Each piece's visible time (0.0 for an empty one).
    assert [first_vis, more_vis] == (vis[:k].tolist() + [0.0, 0.0])[:2]
