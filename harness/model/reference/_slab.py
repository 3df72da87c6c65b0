"""Reference twin of the migration list's slab allocation (one entry at a time)."""

from __future__ import annotations

from harness.model.policies._kmmscand.slab import EntrySlab


class ReferenceEntrySlab(EntrySlab):
    def alloc(self, n: int) -> int:
        """Each entry in order: the first node of the zonelist that has room in
        its last slab page or a free page above LOW, else (after waking the
        top-tier nodes' kswapd) above MIN (V0: or any free page); none: this
        entry fails, and so does every later one."""
        mem, got = self.mem, 0
        for _ in range(n):
            node = None
            for i, floor in enumerate(self.floors):
                if i == 1:
                    for d in mem.fast_nodes:
                        mem.wake_kswapd(int(d))
                for d in self.order:
                    if (self.live[d] < mem.slab_pages[d] * self.per_page
                            or mem.free[d] > floor[d]):
                        node = d
                        break
                if node is not None:
                    break
            if node is None:
                break
            self._take(node, 1)
            got += 1
        if got < n and self.counters is not None:
            self.counters.kzalloc_failed += n - got
        return got
