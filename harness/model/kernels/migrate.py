"""kmmmigrated's pass in compiled code (migrate_entries): each entry's
outcome depends on the ones before (a FIFO list on a running clock)."""

from __future__ import annotations

import numba
import numpy as np

from harness.model.kernels.moves import add_node_rates, move_page
from harness.model.kernels.records import (
    PG_IDLE,
    PG_REFERENCED,
    PG_YOUNG,
    Entries,
    Moves,
    Nodes,
    Outcome,
    Pages,
    Pass,
    Processed,
    Slab,
)

# The outcome codes as plain ints (numba reads module globals as constants).
OK, NOT_HOT, SAME_NODE = int(Outcome.OK), int(Outcome.NOT_HOT), int(Outcome.SAME_NODE)
INELIGIBLE, WATERMARK = int(Outcome.INELIGIBLE), int(Outcome.WATERMARK)
# Entries a block of the full-destination loop takes (costs summed, then the
# bound checked once).
_FULL_BLOCK = 64


@numba.njit(cache=True, nogil=True, error_model="numpy")
def migrate_entries(pg: Pages, nodes: Nodes, mv: Moves, entries: Entries, ps: Pass,
                    out: Processed, slab: Slab):  # pragma: no cover (compiled)
    """kmmmigrated's pass (kmmscand_migrate_folio per entry) over list
    entries in FIFO order, on the thread's clock from ps.start (ns). An
    entry is processed only if its piece is visible when the previous one
    ends and it ends by ps.bound. Its destination is its mm's target node.
    Its Outcome, first failing check first: not hot (when hot_check:
    kscand's is_hot_page, CONFIG_PAGE_IDLE_FLAG form, `!idle && (referenced
    || young)` on the flags the scanner's last visit left, not on the A bit,
    which that visit cleared), source not on the slow tier (a page moved
    already, also by an earlier entry of this pass), source == destination
    (the posted code's order: a top-tier destination makes this one
    unreachable after the previous), no free page above the destination's
    high watermark; else success, and the
    page moves when the entry ends (move_page). Its cost is
    ps.cost_ns[outcome]. At most ps.budget successes (-1: no limit; the pass
    stops at the last one).

    The entries are two arrays walked as one: `pages` (visible from
    entries.vis) then `more` (visible from entries.more_vis), each all of
    one piece of the list. With ps.fresh the sums in `out` and `mv` start
    from zero (the chunk's first call), else they are added to.

    While the one mm's destination has no free page above its watermark
    (and without hot_check), nothing an entry does changes that (only a
    success takes a free page): the entries' outcomes follow from their
    pages' nodes alone, counted a block at a time without a branch per
    entry, the bound checked per block (per entry near it).

    The chunk's end, when this call is its last (it stopped inside its
    entries, spent the budget, or had all the chunk may take): the rate
    sums by node (mv) are added to out.node_rate (Memory._add_sums' sums:
    node_rate += node_in - node_out, element by element); and when the
    call is the chunk's first too and the processed entries are all in the
    list's head run, their slab objects are kfree()d (EntrySlab.release:
    the node's live entries, its slab pages for them, the difference to or
    from its free pages).

    Adds the processed entries to `out` (see Processed; move_page adds the
    rate sums to mv), and returns (entries processed, successes, the clock
    after the last one, promotions of demoted pages, whether it freed the
    entries' slab objects)."""
    pg, nodes, mv, entries = Pages(*pg), Nodes(*nodes), Moves(*mv), Entries(*entries)
    ps, out, slab = Pass(*ps), Processed(*out), Slab(*slab)  # names back
    pages, more, mm_lo = entries.pages, entries.more, entries.mm_lo
    targets, node, flags = entries.targets, pg.node, pg.flags
    node_fast, free, wmark_high = nodes.fast, nodes.free, nodes.wmark_high
    cost_ns, hot_check, bound, budget = ps.cost_ns, ps.hot_check, ps.bound, ps.budget
    codes, attempts, successes, full = out.codes, out.attempts, out.successes, out.full
    if ps.fresh:
        codes[:] = 0
        attempts[:] = 0
        successes[:] = 0
        full[:] = False
        mv.node_in[:] = 0.0
        mv.node_out[:] = 0.0
        mv.sums[:] = 0.0
    clock = ps.start
    k = 0
    n_ok = 0
    pingpong = 0
    n_wm = 0
    j = 0
    one_mm = mm_lo.shape[0] == 1
    n_same = 0
    n_inel = 0
    wm_full = False  # a WATERMARK outcome in the full-destination loop
    i = 0
    n1 = len(pages)  # entries i >= n1 are more[i - n1]
    n_pages = n1 + len(more)
    while i < n_pages:
        if i == 0 or i == n1:  # a piece seen once visible stays so: clocks grow
            j = 0 if i < n1 else 1
            if (entries.vis if j == 0 else entries.more_vis) > clock / 1000:
                break
        if one_mm and not hot_check and free[targets[0]] <= wmark_high[targets[0]]:
            # The destination is full, and stays so in this piece (only a
            # success takes a free page): each entry's outcome is by its
            # page's node alone (the same checks, in the same order, as the
            # entry-at-a-time path below), without a branch per entry.
            d = targets[0]
            stop = n1 if j == 0 else n_pages
            # The piece is in one of the two arrays (pieces do not straddle them).
            arr, off = (pages, 0) if i < n1 else (more, n1)
            c_same, c_inel, c_wm = cost_ns[SAME_NODE], cost_ns[INELIGIBLE], cost_ns[WATERMARK]
            c_max = max(c_same, max(c_inel, c_wm))
            while i < stop:
                m = min(_FULL_BLOCK, stop - i)
                if clock + m * c_max > bound:
                    m = 1  # near the bound: an entry at a time
                a_inel = 0
                a_same = 0
                for q in range(m):  # the per-entry order: source tier, then same node
                    s = node[arr[i - off + q]]
                    inel = node_fast[s]
                    a_inel += inel
                    a_same += (not inel) & (s == d)
                a_wm = m - a_inel - a_same
                add = a_same * c_same + a_inel * c_inel + a_wm * c_wm
                if m == 1 and clock + add > bound:
                    break
                clock += add
                n_same += a_same
                n_inel += a_inel
                n_wm += a_wm
                wm_full |= a_wm > 0
                i += m
            k = i
            if i < stop:
                break
            continue
        p = pages[i] if i < n1 else more[i - n1]
        i += 1
        mm = 0 if one_mm else np.searchsorted(mm_lo, p, side="right") - 1
        d = targets[mm]
        s = node[p]
        f = flags[p]
        if hot_check and not ((f & PG_IDLE) == 0 and (f & (PG_YOUNG | PG_REFERENCED)) != 0):
            r = NOT_HOT
        elif node_fast[s]:
            r = INELIGIBLE
        elif s == d:
            r = SAME_NODE
        elif free[d] <= wmark_high[d]:
            r = WATERMARK
        else:
            r = OK
        end = clock + cost_ns[r]
        if end > bound:
            break
        clock = end
        k = i
        if r == WATERMARK:
            n_wm += 1
            full[d] = True
        elif r != OK:
            codes[r] += 1
        if not one_mm:
            attempts[mm] += 1
        if r == OK:
            out.moved[n_ok] = p
            pp, out.ats[n_ok] = move_page(pg, nodes, mv, p, s, d, end / 1000, True)
            pingpong += pp
            if not one_mm:
                successes[mm] += 1
            n_ok += 1
            if n_ok == budget:
                break
    # Counted here, not per entry (an array element incremented per entry is
    # a dependency chain through memory).
    codes[OK] += n_ok
    codes[WATERMARK] += n_wm
    codes[SAME_NODE] += n_same
    codes[INELIGIBLE] += n_inel
    if wm_full:
        full[targets[0]] = True
    if one_mm:
        attempts[0] += k
        successes[0] += n_ok
    last = k == 0 or k < n_pages or n_ok == budget or ps.last
    if last:
        add_node_rates(mv, out.node_rate)
    freed = last and ps.fresh and 0 < k < slab.run
    if freed:
        d = slab.node
        left = slab.live[d] - k
        slab.live[d] = left
        pages_now = -(-left // slab.per_page)
        free[d] -= pages_now - slab.slab_pages[d]
        slab.slab_pages[d] = pages_now
    return k, n_ok, clock, pingpong, freed
