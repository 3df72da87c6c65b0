"""Policy knob types whose descriptions carry more than a bound: the knobs no
posted RFC version has, the model's slab switch, and the A-bit miss rate.
Their schema descriptions reach the config reference and `defaults`."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from harness.config.loader import Bool, real, whole

# Knobs that no posted RFC version has (V0-V3 drain the whole list, unthrottled,
# without de-duplication): reviewers asked for them, the simulator offers them.
# Their schema description says so, and so do the config reference and the
# defaults output.
PROPOSED = "proposed (in no posted RFC version, not a kernel knob): "
MigrateBatch = Annotated[whole("pages >= 0 (0 = drain the list)", ge=0), Field(
    description=PROPOSED + "at most this many list entries per migration pass; 0 = the "
    "posted behaviour (a pass drains the list)")]
MigrateRateLimit = Annotated[real("MB/s >= 0 (0 = unlimited)", ge=0), Field(
    description=PROPOSED + "promotions per second capped at this many MB; 0 = the posted "
    "behaviour (no limit)")]
Dedup = Annotated[Bool, Field(
    description=PROPOSED + "a page already on the migration list is not queued again; "
    "false = the posted behaviour")]
ListSlab = Annotated[Bool, Field(
    description="model switch, not a kernel knob: the migration list's entries are kmalloc "
    "objects whose slab pages count as used memory of the node they are allocated on "
    "(as in the posted kernels), and an entry that GFP_NOWAIT cannot allocate is not queued; "
    "false keeps them off every node (to isolate other mechanisms)")]
# x86 clears the A bit without a TLB flush, so an access through a translation
# cached before the clear sets no A bit. 0 by default: no figure is published,
# and at the modelled footprints the miss is negligible: a core's L2 dTLB
# (3072 entries, 12 MiB of 4 KiB pages) turns over in milliseconds under
# random access to GBs, while a page is scanned every >= 400 ms and accessed
# many times in between, and only an access before that page's entry is
# evicted can go unseen. It matters for hot sets within the TLBs' reach.
ABitMiss = Annotated[real("a probability in [0, 1)", ge=0, lt=1), Field(
    description="probability that an accessed page's A bit reads clear (x86 clears it "
    "without a TLB flush); 0 by default: no published figure, and negligible when the "
    "footprint is far past the TLBs' reach (docs/model-fidelity.md)")]
