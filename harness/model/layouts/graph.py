"""PageRank (pull direction) over an RMAT/Kronecker graph in CSR.

The layout of one process, as GAP's ``pr`` keeps it (docs/workloads.md):

    [offsets | scores | contrib | neighbors]

* ``offsets`` (8 B a vertex): the in-CSR row pointers, read in vertex order;
* ``scores`` (8 B a vertex): read by the contribution pass, written by the
  pull loop, in vertex order;
* ``contrib`` (8 B a vertex): score / out-degree, written in vertex order by
  the contribution pass and read at random by the pull loop, once per
  out-edge of its vertex (an RMAT hub's page is read at the hub's degree);
* ``neighbors`` (4 B an edge): the in-edges of each vertex, destination
  order, streamed once an iteration.

Vertex and edge counts follow from the footprint: the vertex arrays get
8 / (24 + 4 d) of the pages each, the edges the rest (d = avg_degree).
Degrees are drawn per 512-vertex page: an RMAT edge's source falls on page j
with probability (a+b)^(L - popcount j) (c+d)^(popcount j) (its destination
with (a+c), (b+d)), Graph500's a, b, c = 0.57, 0.19, 0.19, over the smallest
power of two of pages that holds the vertices (pages past the vertex count
dropped, the rest renormalized); a multinomial of the E edges over the pages
gives the degrees, and the page labels are permuted (Graph500 relabels
vertices at random). One iteration makes 2 E + 2048 x (vertex pages)
accesses: each edge's neighbor read and contrib read, each vertex's offset
read and score write, and the contribution pass's score read and contrib
write. Its length is those accesses / access_rate.

The pull loop's progress is measured in accesses: a vertex page's stretch of
the lap is its in-edges plus its 1024 offset and score accesses, and each
neighbor page sits where its edges' destinations are (a phase's rates sum to
access_rate within a neighbor page's share of a lap; a whole iteration's
exactly). A phase of length
move_every_s advances the lap by move_every_s / iteration; the streamed
pages it passes get their accesses in that phase, the rest none. The
contribution pass (2048 accesses a vertex page, a sixth of an iteration at
d = 16... less at larger d) and the random contrib reads are spread evenly
over the iteration.
"""

from __future__ import annotations

import numpy as np

from harness.model.layouts._sweep import lap_cover

RMAT = (0.57, 0.19, 0.19, 0.05)  # Graph500's Kronecker initiator
VERTEX_BYTES = 8
EDGE_BYTES = 4
ARRAYS = ("offsets", "scores", "contrib", "neighbors")


def rmat_page_probs(m: int, row: bool) -> np.ndarray:
    """Probability that an RMAT edge's source (row=True) or destination falls
    on each of m vertex pages (the low bits of a vertex id vary within a
    page, and the initiator's entries sum to 1, so only the page bits count)."""
    a, b, c, d = RMAT
    p0, p1 = (a + b, c + d) if row else (a + c, b + d)
    bits = max(1, int(np.ceil(np.log2(max(m, 2)))))
    j = np.arange(m, dtype=np.uint64)
    ones = np.zeros(m, dtype=np.int64)
    for k in range(bits):  # per bit of the page index, not per page
        ones += ((j >> np.uint64(k)) & np.uint64(1)).astype(np.int64)
    logp = (bits - ones) * np.log(p0) + ones * np.log(p1)
    p = np.exp(logp - logp.max())
    return p / p.sum()


class PageRankCSR:
    def __init__(self, w, n: int, seed: int, index: int, process: int, page: int = 4096):
        if n < 4:
            raise ValueError("a graph workload needs at least 4 pages a process")
        d = float(w.avg_degree)
        vp = int(round(n * VERTEX_BYTES / (3 * VERTEX_BYTES + EDGE_BYTES * d)))
        vp = min(max(vp, 1), (n - 1) // 3)
        ep = n - 3 * vp
        self.n, self.vp, self.ep = n, vp, ep
        self.vertices = vp * (page // VERTEX_BYTES)
        self.edges = ep * (page // EDGE_BYTES)
        # Array starts: offsets, scores, contrib, neighbors, end.
        self.starts = np.array([0, vp, 2 * vp, 3 * vp, n], dtype=np.int64)
        rng = np.random.default_rng([seed, index, process, 0x6A9])
        relabel = rng.permutation(vp)
        out_deg = rng.multinomial(self.edges, rmat_page_probs(vp, row=True))[relabel]
        in_deg = rng.multinomial(self.edges, rmat_page_probs(vp, row=False))[relabel]
        self.out_deg, self.in_deg = out_deg.astype(np.float64), in_deg.astype(np.float64)
        vper = page // VERTEX_BYTES
        # The pull loop's lap, in accesses: each vertex page's in-edges (their
        # neighbor reads; the contrib reads land elsewhere) and its offset reads
        # and score writes.
        work = self.in_deg + 2 * vper
        cum = np.concatenate([[0.0], np.cumsum(work)])
        self.vertex_bounds = cum / cum[-1]
        # Neighbor page i holds edges [i, i+1) x 1024 in destination order; a
        # vertex's offset read, its edges and its score write come in turn, so
        # a vertex page's edges spread evenly over its stretch of the lap.
        in_cum = np.concatenate([[0.0], np.cumsum(self.in_deg)])
        edge_pos = np.arange(ep + 1, dtype=np.float64) * (page // EDGE_BYTES)
        self.edge_bounds = np.interp(edge_pos, in_cum, cum) / cum[-1]
        self.iteration_accesses = 2.0 * self.edges + 4.0 * vper * vp
        self.iteration_s = self.iteration_accesses / float(w.access_rate)
        self.step_us = int(round(float(w.move_every_s) * 1e6))
        self.step_s = float(w.move_every_s)
        self.vper = vper
        self.epp = page // EDGE_BYTES

    def rates(self, k: int) -> np.ndarray:
        """Accesses per second of each page during phase k."""
        it = self.iteration_s
        a = k * self.step_s / it
        b = (k + 1) * self.step_s / it
        r = np.empty(self.n)
        o, s, c, e, end = self.starts
        cov_v = lap_cover(self.vertex_bounds, a, b) / self.step_s
        r[o:s] = cov_v * self.vper  # offsets: one read a vertex
        r[s:c] = cov_v * self.vper + self.vper / it  # score writes; the contribution pass's reads
        r[c:e] = (self.out_deg + self.vper) / it  # random reads by out-degree; the pass's writes
        cov_e = lap_cover(self.edge_bounds, a, b) / self.step_s
        r[e:end] = cov_e * self.epp
        return r

