"""valgrind lackey traces (``valgrind --tool=lackey --trace-mem=yes``).

Lines::

    I  0401ab70,3        instruction fetch: advances time by one instruction
     L 1fff000778,8      load   \
     S 1fff000770,8      store   > one access to each page the bytes touch
     M 0421a0c8,4        modify /

``==pid==`` and ``--pid--`` lines (valgrind's own messages), ``SB`` lines
(``--trace-superblocks``) and blank lines are skipped. Anything else is a
malformed line. The file (plain or gzip) is read in large blocks cut at line
boundaries, and each block is parsed with vectorized numpy, so memory stays
bounded whatever the length of the trace.

Time: the n-th instruction (1-based) runs at (n - 1) / instructions_per_s
seconds, and its loads and stores happen at that time; accesses before the
first instruction are at time 0.
"""

from __future__ import annotations

import contextlib
import gzip
import queue
import re
import threading
import zlib
from dataclasses import dataclass, field

import numpy as np

from harness.errors import InputError
from harness.traces.base import Accumulator, ReaderOptions

BLOCK = 2 << 20
MAX_LINE = 1 << 20
PREFETCH_PLAIN = False
EXPECTED = "expected 'I  addr,size' or ' L|S|M addr,size' (hex address, decimal size)"

_HEX = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX[_c] = 10 + _i
_DEC = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789"):
    _DEC[_c] = _i

_PID = re.compile(rb"^==(\d+)==")


@dataclass
class LackeyStats:
    lines: int = 0
    instructions: int = 0
    loads: int = 0
    stores: int = 0
    modifies: int = 0
    skipped_lines: int = 0
    bad_lines: int = 0
    first_bad: list = field(default_factory=list)
    pid: int | None = None
    bytes_read: int = 0


def open_binary(path: str):
    """A binary stream of the file, gunzipped on the fly if it is gzip."""
    try:
        with open(path, "rb") as f:
            magic = f.read(2)
        return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


PAD = 16


def _prefetch(f, block: int, depth: int = 4):
    """Read chunks in a background thread (gzip inflation and disk reads overlap the
    parsing; zlib and file reads release the GIL). Bounded: ``depth`` chunks ahead."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def run() -> None:
        try:
            while not stop.is_set():
                chunk = f.read(block)
                q.put(chunk)
                if not chunk:
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    t = threading.Thread(target=run, name="trace-reader", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if not item:
                return
    finally:
        stop.set()
        while t.is_alive():
            with contextlib.suppress(queue.Empty):
                q.get(timeout=0.05)
        t.join()


def iter_blocks(path: str, block: int | None = None):
    """Yield (buffer, lines before it): PAD padding bytes, then whole lines."""
    block = block or BLOCK
    pad = b"0" * PAD
    carry = b""
    lines = 0
    f = open_binary(path)
    try:
        with f:
            chunks = (_prefetch(f, block) if isinstance(f, gzip.GzipFile) or PREFETCH_PLAIN
                      else iter(lambda: f.read(block), None))
            for chunk in chunks:
                if not chunk:
                    if carry:
                        yield pad + carry + b"\n", lines
                    return
                data = b"".join((pad, carry, chunk))
                cut = data.rfind(b"\n") + 1
                if cut <= PAD:
                    if len(data) > MAX_LINE:
                        raise InputError(f"{path}:{lines + 1}: {EXPECTED}, got a line of over "
                                         f"{MAX_LINE} bytes")
                    carry = data[PAD:]
                    continue
                carry = data[cut:]
                yield (data if cut == len(data) else memoryview(data)[:cut]), lines
                lines += data.count(b"\n", PAD, cut)
    except EOFError:
        raise InputError(f"{path}: truncated gzip file: the data ends before the gzip "
                         "end-of-stream marker (incomplete copy or recording?)") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(f"{path}: corrupt gzip data: {exc}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _line_text(a: np.ndarray, start: int, end: int) -> str:
    text = bytes(a[start:min(end, start + 80)]).decode("utf-8", "replace")
    return text + ("..." if end - start > 80 else "")


class _Windows:
    """Instruction count -> window index, exact when instructions per window is integral."""

    def __init__(self, opts: ReaderOptions):
        per = opts.instructions_per_s * opts.window_ms / 1000.0
        if per <= 0:
            raise InputError("instructions per window must be > 0")
        self.int_per = int(per) if float(per).is_integer() else 0
        self.per = per

    def __call__(self, t: np.ndarray) -> np.ndarray:
        if self.int_per:
            return t // self.int_per
        return np.floor(t / self.per).astype(np.int64)


_ONES = np.uint64(0x0101010101010101)
_HIGH = np.uint64(0x8080808080808080)
_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
# Byte masks of the lowest k bytes, k = 0..8.
_BYTEMASK = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)


def _ge(x7: np.ndarray, k: int) -> np.ndarray:
    """Per byte (all < 0x80): 0x80 where byte >= k, else 0 (SWAR, no carries)."""
    return (x7 + np.uint64((0x80 - k) * 0x0101010101010101)) & _HIGH


def _hex_ok(x: np.ndarray) -> np.ndarray:
    """Per byte: 0x80 where the byte is 0-9 or a-f (the fast path)."""
    x7 = x & _LOW7
    ok = (_ge(x7, 0x30) & ~_ge(x7, 0x3A)) | (_ge(x7, 0x61) & ~_ge(x7, 0x67))
    return ok & ~x


def _hex_ok_slow(a: np.ndarray, comma: np.ndarray, hl: np.ndarray, sl: np.ndarray) -> np.ndarray:
    """Exact check of the few lines the fast path rejected (accepts A-F too)."""
    ok = np.ones(len(comma), dtype=bool)
    for k in range(int(hl.max())):
        m = k < hl
        ok &= ~(m & (_HEX[a[comma - 1 - k]] == 255))
    for k in range(int(sl.max())):
        m = k < sl
        ok &= ~(m & (_DEC[a[np.minimum(comma + 1 + k, len(a) - 1)]] == 255))
    return ok


def _hex_value(x: np.ndarray) -> np.ndarray:
    """8 ASCII hex digits per word (big-endian byte order) -> their 32-bit value."""
    n = (x & np.uint64(0x0F0F0F0F0F0F0F0F)) + np.uint64(9) * ((x >> np.uint64(6)) & _ONES)
    n = (n | (n >> np.uint64(4))) & np.uint64(0x00FF00FF00FF00FF)
    n = (n | (n >> np.uint64(8))) & np.uint64(0x0000FFFF0000FFFF)
    return (n | (n >> np.uint64(16))) & np.uint64(0xFFFFFFFF)


def parse_block(a: np.ndarray, base: int, line_base: int, path: str, opts: ReaderOptions,
                st: LackeyStats, acc: Accumulator, to_window: _Windows, shift: int) -> None:
    """Parse the lines of ``a[base:]`` (ending with b'\\n') into the accumulator.

    ``a[:base]`` is padding (>= 16 bytes) so that a line's 16 bytes before its
    comma can always be gathered.
    """
    ends = np.flatnonzero(a[base:] == 10)
    n = len(ends)
    if n == 0:
        return
    ends += base
    starts = np.empty(n, dtype=np.int64)
    starts[0] = base
    starts[1:] = ends[:-1] + 1
    eend = ends
    cr = a[ends - 1] == 13
    if cr.any():
        eend = ends - (cr & (ends > starts))
    del cr
    length = eend - starts
    c0 = a[starts]
    c1 = a[np.minimum(starts + 1, len(a) - 1)]
    c2 = a[np.minimum(starts + 2, len(a) - 1)]
    is_rec = (((c0 == 73) & (c1 == 32)) | ((c0 == 32) & ((c1 == 76) | (c1 == 83) | (c1 == 77))))
    is_rec &= (c2 == 32) & (length >= 6)
    skip = (length == 0) | ((length >= 2) & (((c0 == 61) & (c1 == 61)) | ((c0 == 45) & (c1 == 45))
                                             | ((c0 == 83) & (c1 == 66) & (c2 == 32))))
    del length
    n_skip = int(np.count_nonzero(skip))
    if st.pid is None and n_skip:
        for i in np.flatnonzero(skip & (c0 == 61))[:4]:
            m = _PID.match(bytes(a[starts[i]:eend[i]]))
            if m:
                st.pid = int(m.group(1))
                break

    R = np.flatnonzero(is_rec)
    del is_rec
    s = starts[R]
    e = eend[R]
    # The comma: the first one from the end, after 1..8 size digits.
    comma = e - 2
    hit = a[comma] == 44
    todo = np.flatnonzero(~hit)
    for d in range(2, 9):
        if not len(todo):
            break
        pos = e[todo] - 1 - d
        h = a[pos] == 44
        comma[todo[h]] = pos[h]
        todo = todo[~h]
    if len(todo):
        comma[todo] = s[todo]  # no comma: flagged bad by the length checks below
    hl = comma - s - 3
    sl = e - comma - 1
    ok = (hl >= 1) & (hl <= 16) & (sl >= 1)
    sl = np.where(ok, sl, 0)
    del e
    # Size (decimal).
    size = np.zeros(len(R), dtype=np.int64)
    last = len(a) - 1
    for k in range(int(sl.max()) if len(sl) else 0):
        m = k < sl
        dg = _DEC[a[np.minimum(comma + 1 + k, last)]]
        ok &= ~(m & (dg == 255))
        size = np.where(m, size * 10 + dg, size)
    # Address (hex): the 8 bytes before the comma (and the 8 before those for
    # addresses of more than 8 digits) as big-endian words, checked and
    # decoded 8 digits at a time.
    u64 = np.ndarray(shape=(len(a) - 7,), dtype=">u8", buffer=a, strides=(1,))
    lo = u64[comma - 8].astype(np.uint64)
    lo_mask = _BYTEMASK[np.clip(hl, 0, 8)]
    long = np.flatnonzero(hl > 8)
    hi = u64[comma[long] - 16].astype(np.uint64)
    hi_mask = _BYTEMASK[np.clip(hl[long] - 8, 0, 8)]
    m80 = lo_mask & _HIGH
    ok &= (_hex_ok(lo) & m80) == m80
    m80 = hi_mask & _HIGH
    ok[long] &= (_hex_ok(hi) & m80) == m80
    del m80
    recheck = np.flatnonzero(~ok & (hl >= 1) & (hl <= 16) & (sl >= 1))
    if len(recheck):  # upper-case digits (lackey prints lower case) or bad bytes
        ok[recheck] = _hex_ok_slow(a, comma[recheck], hl[recheck], sl[recheck])
    del sl, s, hi, hi_mask, long

    good = np.zeros(n, dtype=bool)
    good[R[ok]] = True
    bad = ~(good | skip)
    del good, skip
    n_bad = int(np.count_nonzero(bad))
    if n_bad:
        first = np.flatnonzero(bad)
        if not opts.skip_bad_lines:
            i = int(first[0])
            raise InputError(f"{path}:{line_base + i + 1}: {EXPECTED}, got "
                             f"{_line_text(a, int(starts[i]), int(eend[i]))!r}")
        st.bad_lines += n_bad
        room = 5 - len(st.first_bad)
        if room > 0:
            st.first_bad.extend(int(line_base + i + 1) for i in first[:room])
    del bad
    st.lines += n
    st.skipped_lines += n_skip

    cR = c0[R]
    instr = np.zeros(n, dtype=bool)
    instr[R[ok & (cR == 73)]] = True
    ic = np.cumsum(instr, dtype=np.int64)
    keep = ok & (cR == 32)
    D = R[keep]
    kind = c1[D]
    st.loads += int(np.count_nonzero(kind == 76))
    st.stores += int(np.count_nonzero(kind == 83))
    st.modifies += int(np.count_nonzero(kind == 77))
    t = np.maximum(st.instructions + ic[D] - 1, 0)
    st.instructions += int(ic[-1])
    del ic, instr, starts, eend, c0, c1, c2, kind, D
    window = to_window(t)
    kidx = np.flatnonzero(keep)
    addr = _hex_value(lo[kidx] & lo_mask[kidx])
    hl = hl[kidx]
    long = np.flatnonzero(hl > 8)
    if len(long):
        hi = u64[comma[kidx[long]] - 16].astype(np.uint64) & _BYTEMASK[hl[long] - 8]
        addr[long] |= _hex_value(hi) << np.uint64(32)
    del lo, lo_mask, hl, comma, kidx
    size = np.maximum(size[keep], 1).astype(np.uint64)
    sh = np.uint64(shift)
    first_pg = addr >> sh
    span = ((addr + size - np.uint64(1)) >> sh) - first_pg
    multi = np.flatnonzero(span)
    if len(multi):
        reps = span[multi].astype(np.int64)
        rep = np.repeat(multi, reps)
        offs = np.arange(len(rep), dtype=np.int64) - np.repeat(np.cumsum(reps) - reps, reps) + 1
        first_pg = np.concatenate([first_pg, first_pg[rep] + offs.astype(np.uint64)])
        window = np.concatenate([window, window[rep]])
    acc.add(0, window, first_pg)


_MALLOC_TUNED = False


def _keep_heap_top() -> None:
    """glibc only: keep up to 64 MiB free at the top of the heap (M_TOP_PAD).

    Each block's temporaries are freed together; by default glibc then trims
    the heap and the next block faults the pages in again, which costs about
    a third of the parse time. Process-wide and harmless elsewhere; ignored
    where mallopt is missing."""
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-2, 64 << 20)  # M_TOP_PAD
    except (OSError, AttributeError):
        pass


def read_lackey(path: str, opts: ReaderOptions) -> tuple[Accumulator, int, dict]:
    """Parse a lackey trace: (accumulator keyed by process 0, windows, stats)."""
    _keep_heap_top()
    st = LackeyStats()
    acc = Accumulator()
    to_window = _Windows(opts)
    shift = int(opts.page_bytes).bit_length() - 1
    for buf, line_base in iter_blocks(path):
        a = np.frombuffer(buf, dtype=np.uint8)
        st.bytes_read += len(a) - PAD
        parse_block(a, PAD, line_base, path, opts, st, acc, to_window, shift)
    n_windows = int(to_window(np.array([st.instructions - 1]))[0]) + 1 if st.instructions else 1
    stats = dict(lines=st.lines, instructions=st.instructions, loads=st.loads, stores=st.stores,
                 modifies=st.modifies, accesses=acc.accesses, skipped_lines=st.skipped_lines,
                 bad_lines=st.bad_lines, first_bad_lines=st.first_bad, bytes=st.bytes_read)
    if st.pid is not None:
        stats["pid"] = st.pid
    return acc, n_windows, stats
