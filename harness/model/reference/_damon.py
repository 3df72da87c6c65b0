"""Reference twin of DAMON's monitor and scheme rules: one region, one page
at a time, following mm/damon/core.c's loops as written."""

from __future__ import annotations

import numpy as np

from harness.model.memory import PG_IDLE, PG_YOUNG
from harness.model.policies._damon import DamonTierPolicy
from harness.model.policies._damon.monitor import MAX_SUB, Monitor
from harness.model.policies._damon.schemes import DAMOS_MAX_SCORE, Scheme


def _young(fr, p: int) -> bool:
    """damon_folio_young: the A bit, or not PG_idle."""
    return bool(fr.bits.peek(np.array([p]))[0]) or not fr.mem.pgflags[p] & PG_IDLE


def _mkold(fr, p: int) -> None:
    """damon_folio_mkold."""
    if fr.bits.test_and_clear_pages(np.array([p]))[0]:
        fr.mem.pgflags[p] |= PG_YOUNG
    fr.mem.pgflags[p] |= PG_IDLE


class ReferenceMonitor(Monitor):
    def _rule_check(self, frames: np.ndarray) -> np.ndarray:
        out = np.zeros(len(frames), dtype=np.int64)
        for i, f in enumerate(frames.tolist()):
            p = int(self.frames.frame_page[self.node][f])
            if p < 0:
                continue  # a free frame: no folio
            self.checks += 1
            out[i] = _young(self.frames, p)
        return out

    def _rule_mkold(self, frames: np.ndarray) -> None:
        pages = [int(self.frames.frame_page[self.node][f]) for f in frames.tolist()]
        for p in sorted(p for p in pages if p >= 0):
            self.checks += 1
            _mkold(self.frames, p)

    def _rule_merge(self, thres: int) -> None:
        regs = [[int(a) for a in r] for r in zip(self.lo, self.hi, self.nr, self.last, self.age,
                                                 strict=True)]
        out: list[list[int]] = []
        for r in regs:
            lo, hi, nr, last, age = r
            if abs(nr - last) > thres or (nr == 0) != (last == 0):
                r[4] = 0
            else:
                r[4] = age + 1
            prev = out[-1] if out else None
            if (prev is not None and prev[1] == lo and abs(prev[2] - nr) <= thres
                    and (prev[1] - prev[0]) + (hi - lo) <= self.sz_limit):
                szl, szr = prev[1] - prev[0], hi - lo
                prev[2] = (prev[2] * szl + nr * szr) // (szl + szr)
                prev[4] = (prev[4] * szl + r[4] * szr) // (szl + szr)
                prev[1] = hi
            else:
                out.append(r)
        self._set(out)

    def _set(self, regs: list[list[int]]) -> None:
        cols = list(zip(*regs, strict=True)) if regs else [[]] * 5
        self.lo, self.hi, self.nr, self.last, self.age = (np.array(c, dtype=np.int64)
                                                          for c in cols)

    def _rule_split(self, nsub: int) -> None:
        out: list[list[int]] = []
        for lo, hi, nr, last, age in zip(self.lo.tolist(), self.hi.tolist(), self.nr.tolist(),
                                         self.last.tolist(), self.age.tolist(), strict=True):
            pieces = [[lo, hi, nr, last, age]]
            sz = hi - lo
            for _ in range(nsub - 1):
                u = float(self.rng.random())
                if not sz > 2:
                    continue
                sub = (1 + int(u * (MAX_SUB - 1))) * sz // MAX_SUB
                if sub == 0 or sub >= sz:
                    continue
                left = pieces[0]
                cut = left[0] + sub
                pieces.insert(1, [cut, left[1], nr, last, age])
                left[1] = cut
                sz = sub
            out.extend(pieces)
        self._set(out)


class ReferenceScheme(Scheme):
    def _rule_min_score(self, valid: np.ndarray, scores: np.ndarray, sizes: np.ndarray) -> int:
        hist = [0] * (DAMOS_MAX_SCORE + 1)
        max_score = 0
        for ok, s, sz in zip(valid.tolist(), scores.tolist(), sizes.tolist(), strict=True):
            if ok:
                hist[s] += sz
                max_score = max(max_score, s)
        cum, score = 0, max_score
        while True:
            cum += hist[score]
            if cum >= self.esz or not score:
                return score
            score -= 1

    def _skip_charged(self, mon: Monitor, i: int) -> bool:
        """damos_skip_charged_region, as written (i may be split)."""
        if self.charge_addr_from is None:
            return False
        pb, addr = self.page_bytes, self.charge_addr_from
        if i == mon.n - 1:
            self.charge_addr_from = None
            return True
        if int(mon.hi[i]) * pb <= addr:
            return True
        if int(mon.lo[i]) * pb < addr:
            skip = (addr - int(mon.lo[i]) * pb) // pb
            if not skip:
                if mon.hi[i] - mon.lo[i] <= 1:
                    return True
                skip = 1
            mon.split_at(i, skip)
            self.charge_addr_from = None
            return True  # the left part skipped; the walk goes on with the right one
        self.charge_addr_from = None
        return False

    def _rule_apply(self, mon: Monitor) -> tuple[int, int]:
        fr, pb = self.frames, self.page_bytes
        mem, costs = fr.mem, fr.sim.costs
        ok_ns, fail_ns = round(costs.page_move_ns), round(costs.migrate_fail_ns)
        tested = total = 0
        old: list[int] = []  # young pages, made old after the walk (page order, as the model)
        i = 0
        n_end = mon.n  # damon_for_each_region_safe: regions split off are not visited
        while i < n_end:
            if self.quota_full():
                i += 1
                continue
            before = mon.n
            if self._skip_charged(mon, i):
                n_end += mon.n - before
                i += 1
                continue
            lo, hi, nr = int(mon.lo[i]), int(mon.hi[i]), int(mon.nr[i])
            if not (self.min_nr <= nr <= self.max_nr and hi > lo):
                i += 1
                continue
            if self.esz and int(self.scores(mon)[i]) < self.min_score:
                i += 1
                continue
            sz = (hi - lo) * pb
            step = 1
            if self.esz and self.charged_sz + sz > self.esz:
                sz = (self.esz - self.charged_sz) // pb * pb
                if not sz:
                    i += 1
                    continue
                mon.split_at(i, sz // pb)
                n_end, step = n_end + 1, 2  # the rest split off is not visited
            cost = 0
            for f in range(lo, lo + sz // pb):
                p = int(fr.frame_page[self.src][f])
                if p < 0:
                    continue
                if self.cfg.damon_young_filter:
                    tested += 1
                    young = _young(fr, p)
                    if young:
                        old.append(p)
                    if young != self.hot:
                        continue
                if mem.free[self.dest] > mem.wmark_high[self.dest]:
                    mem.move(np.array([p]), self.dest, "promote" if self.hot else "demote")
                    self.applied_bytes += pb
                    self.window_applied += pb
                    fr.dirty = True
                    cost += ok_ns
                else:
                    fr.sim.counters.failed_dest_watermark += 1
                    mem.wake_kswapd(self.dest)
                    cost += fail_ns
            total += cost
            self._charge(mon, i, sz, cost)
            i += step
        for p in sorted(old):
            _mkold(fr, p)
        return tested, total


class ReferenceDamonTierPolicy(DamonTierPolicy):
    monitor_cls = ReferenceMonitor
    scheme_cls = ReferenceScheme
