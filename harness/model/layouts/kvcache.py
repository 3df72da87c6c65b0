"""A key-value cache under YCSB-style Zipfian gets and sets.

The layout of one process (docs/workloads.md):

    [hash table | value slabs]

* ``hash table``: one 8-byte bucket pointer per item slot (memcached's
  primary hash table at load factor 1): 8 x items / 4096 pages, first;
* ``value slabs``: the items, value_bytes each (header included), 4096 //
  value_bytes to a page, kept as a circular log: a set writes its key's new
  version at the log head and the old version is dead (memcached's slab
  class under LRU eviction, a log-structured cache such as Segcache).

Requests are access_rate / 2 a second (each touches its bucket and its
item); set_fraction of them are sets. Gets and sets pick keys from one
Zipf(zipf_s) over as many keys as the log has slots (YCSB's request
distribution; 0.99 is YCSB's constant).

The rates are the cache's steady state, closed form: the log head advances
by S items a second (S = set rate), so the item at age a (items behind the
head) was written a / S seconds ago by a set of key x with probability p_x,
and is still x's live version unless x was set again since, probability
exp(-p_x a). Its get rate is G x sum_x p_x^2 exp(-p_x a) (G = get rate):
the hot items crowd behind the head and the hot region moves round the log
with it. A get of a key whose last set is older than the log misses: it
reads its bucket only. The pages the head passes in a phase (move_every_s)
get the set writes. Bucket pages: the hottest 4096 keys' buckets fall on
pages drawn from the seed, every other key's requests spread evenly.
"""

from __future__ import annotations

import numpy as np

from harness.model.layouts._sweep import lap_cover, uniform_bounds

PAGE = 4096
BUCKET_BYTES = 8
RANK_BINS = 2048   # key ranks are summed in log-spaced bins
AGE_GRID = 4096    # g(age) is evaluated on a log grid and interpolated
HOT_KEYS = 4096    # keys whose bucket page is drawn one by one


def _rank_bins(keys: int, s: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Zipf(s) popularity of ranks 1..keys, in log-spaced bins: (p at each
    bin's ranks, keys in the bin, the normalizing sum); exact for the first
    ranks (one a bin)."""
    edges = np.unique(np.geomspace(1, keys + 1, RANK_BINS).astype(np.int64))
    edges = np.union1d(edges, [1, keys + 1])
    lo, hi = edges[:-1], edges[1:]
    # Harmonic-like sums per bin by the integral of x^-s (exact enough beyond
    # the first bins, which hold one rank each).
    if s == 1.0:
        mass = np.log(hi - 0.5) - np.log(lo - 0.5)
    else:
        mass = ((hi - 0.5) ** (1 - s) - (lo - 0.5) ** (1 - s)) / (1 - s)
    single = hi - lo == 1
    mass[single] = lo[single].astype(np.float64) ** -s
    z = float(mass.sum())
    count = (hi - lo).astype(np.float64)
    return mass / z / count, count, z


class KVCache:
    def __init__(self, w, n: int, seed: int, index: int, process: int, page: int = PAGE):
        if n < 2:
            raise ValueError("a kvcache workload needs at least 2 pages a process")
        vb = int(w.value_bytes)
        ipp = max(1, page // vb)
        ht = int(round(n * BUCKET_BYTES * ipp / (page + BUCKET_BYTES * ipp)))
        ht = min(max(ht, 1), n - 1)
        slab = n - ht
        self.n, self.ht, self.slab, self.ipp = n, ht, slab, ipp
        self.items = slab * ipp
        req = float(w.access_rate) / 2.0
        self.sets = req * float(w.set_fraction)
        self.gets = req - self.sets
        self.requests = req
        self.step_us = int(round(float(w.move_every_s) * 1e6))
        self.step_s = float(w.move_every_s)
        p, count, z = _rank_bins(self.items, float(w.zipf_s))
        # Live-item get popularity by age (items behind the head).
        ages = np.concatenate([[0.0], np.geomspace(0.5, self.items, AGE_GRID)])
        g = ((p * p * count)[None, :] * np.exp(-np.outer(ages, p))).sum(axis=1)
        page_age = (np.arange(slab) + 0.5) * ipp  # a page's items, at its middle
        self.by_age = np.interp(page_age, ages, g) * ipp * self.gets  # get rate, age order
        self.hit_ratio = float(self.by_age.sum() / self.gets) if self.gets else 0.0
        # Buckets: the hottest keys on seeded pages, the rest evenly.
        rng = np.random.default_rng([seed, index, process, 0x4B5])
        hot = min(HOT_KEYS, self.items)
        ph = np.arange(1, hot + 1, dtype=np.float64) ** -float(w.zipf_s) / z
        self.buckets = np.full(ht, req * (1.0 - ph.sum()) / ht)
        np.add.at(self.buckets, rng.integers(0, ht, size=hot), req * ph)
        self.bounds = uniform_bounds(slab)

    def head(self, t_s: float) -> float:
        """The log head (pages, modulo the slab) at t seconds."""
        return t_s * self.sets / self.ipp

    def rates(self, k: int) -> np.ndarray:
        r = np.empty(self.n)
        r[: self.ht] = self.buckets
        mid = self.head((k + 0.5) * self.step_s) % self.slab
        # Page j is (m - j) mod slab pages behind the head at mid-phase
        # (m = floor(mid)): the age profile reversed and rotated, one copy.
        slab = np.roll(self.by_age[::-1], int(np.floor(mid)) + 1)
        # Set writes: the pages the head passes during the phase.
        a = self.head(k * self.step_s) / self.slab
        b = self.head((k + 1) * self.step_s) / self.slab
        r[self.ht:] = slab
        r[self.ht:] += lap_cover(self.bounds, a, b) * (self.ipp / self.step_s)
        return r

