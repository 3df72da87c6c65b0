"""The run configuration's schema: frozen dataclasses that check their values.

One YAML file describes a run (seed, duration, platform, workloads, policy,
costs, runtime). Types and bounds are checked by pydantic (loader.py), values
here in ``__post_init__``; every error names the dotted field path.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import with_config

from harness.config.kmmscand_versions import version_defaults
from harness.config.loader import (
    DURATION_LIMIT_S,
    PIB_IN_GB,
    STRICT,
    Bool,
    Float,
    Int,
    Str,
    build,
    one_of,
    real,
    whole,
)
from harness.config.loader import fail as _fail
from harness.config.policy_knobs import ABitMiss, Dedup, ListSlab, MigrateBatch, MigrateRateLimit
from harness.config.raw import OVERRIDE, set_path
from harness.errors import ConfigError

GIB = 1 << 30
MIB = 1 << 20

Tier = Literal["fast", "slow"]
WorkloadKind = Literal["uniform", "zipf", "hotset", "split", "sequential", "counts", "trace",
                       "graph", "kvcache", "analytic"]
Placement = Literal["first_touch", "slow", "fast", "split"]
PolicyKind = Literal["none", "kmmscand", "numab2", "damon_tier", "oracle"]
Version = Literal["v0", "v1", "v2", "v3"]
Positive = whole("a value > 0", gt=0)
Cost = real("a cost >= 0", ge=0)



@with_config(STRICT)
@dataclass(frozen=True)
class NodeConfig:
    id: whole("a node id >= 0", ge=0)
    tier: Tier
    capacity_gb: real("a capacity > 0", gt=0, le=PIB_IN_GB)
    # Load-to-use latency of one cache line from a CPU of the node's own socket.
    latency_ns: real("a latency > 0 (ns)", gt=0) = 90.0
    bandwidth_gbps: real("a bandwidth > 0 (GB/s)", gt=0) = 100.0
    # The socket the node hangs off (a top-tier node's own socket; a CPU-less
    # CXL node's host socket). The closed-loop runtime spreads the threads
    # evenly over the sockets of the top-tier nodes.
    socket: whole("a socket id >= 0", ge=0) = 0


def _default_nodes() -> tuple[NodeConfig, ...]:
    return (
        NodeConfig(id=0, tier="fast", capacity_gb=16, latency_ns=90, bandwidth_gbps=100),
        NodeConfig(id=1, tier="slow", capacity_gb=64, latency_ns=220, bandwidth_gbps=36),
    )


@with_config(STRICT)
@dataclass(frozen=True)
class PlatformConfig:
    page_size_kb: one_of(4, 8, 16, 64) = 4
    nodes: tuple[NodeConfig, ...] = field(default_factory=_default_nodes)
    # Watermarks as a share of each node's capacity (percent). Promotion needs
    # free pages above `high`; kswapd then demotes until free reaches `promo`.
    wmark_high_pct: real("a share of capacity in [0, 50) %", ge=0, lt=50) = 1.0
    wmark_promo_pct: real("a share of capacity in [0, 50) %", ge=0, lt=50) = 2.0
    # The MIN watermark (capped at `high`), under which a GFP_NOWAIT
    # allocation fails; LOW sits halfway between MIN and HIGH (as
    # __setup_per_zone_wmarks spaces them, low = min + t, high = min + 2t).
    # min_free_kbytes = int_sqrt(16 x lowmem kB) (calculate_min_free_kbytes):
    # 64 MiB on the RFC's 256 GB machine, 0.024 % of each node.
    wmark_min_pct: real("a share of capacity in [0, 50) %", ge=0, lt=50) = 0.024
    kswapd: Bool = True
    # Fast-tier size as a share of the workload footprint (trace placement);
    # when set it overrides the fast nodes' capacity_gb (split evenly).
    fast_share_of_footprint: real("a share in (0, 1]", gt=0, le=1) | None = None

    def __post_init__(self) -> None:
        ids = [n.id for n in self.nodes]
        if len(set(ids)) != len(ids):
            _fail("nodes", f"node ids must be unique, got {ids}")
        if not any(n.tier == "fast" for n in self.nodes):
            _fail("nodes", "expected at least one fast-tier node")
        if not any(n.tier == "slow" for n in self.nodes):
            _fail("nodes", "expected at least one slow-tier node")
        if not self.wmark_high_pct <= self.wmark_promo_pct:
            _fail("wmark_promo_pct", "expected wmark_high_pct <= wmark_promo_pct")

    @property
    def page_bytes(self) -> int:
        return self.page_size_kb * 1024


@with_config(STRICT)
@dataclass(frozen=True)
class WorkloadConfig:
    kind: WorkloadKind = "zipf"
    size_gb: real("a size > 0", gt=0, le=PIB_IN_GB) = 8.0
    processes: whole("at least 1 process", ge=1) = 1
    placement: Placement = "slow"
    # Share of pages on the fast tier for placement "split" (cbench-split 50:50).
    split_fast_share: real("a share in [0, 1]", ge=0, le=1) = 0.5
    # Total accesses per second of one process (rate form).
    access_rate: real("accesses per second > 0", gt=0) = 2.0e7
    zipf_s: real("an exponent >= 0", ge=0) = 1.0
    hot_fraction: real("a share in (0, 1]", gt=0, le=1) = 0.1
    hot_share: real("a share in [0, 1]", ge=0, le=1) = 0.9
    # hotset: the hot set moves every move_every_s; sequential: the sweep
    # window advances every move_every_s.
    move_every_s: real("seconds > 0", gt=0) = 30.0
    # sequential: share of the footprint accessed at once.
    window_fraction: real("a share in (0, 1]", gt=0, le=1) = 0.1
    # counts: a .npy file (windows x pages, integers) or an inline list.
    path: Str | None = None
    counts: tuple[tuple[Int, ...], ...] | None = None
    window_ms: whole("a window of at least 1 ms", ge=1) = 1000
    # trace: reader options ("format": lackey | columnar | damon | auto).
    format: Str = "auto"
    instructions_per_s: real("a rate > 0", gt=0) = 1.0e9
    # trace: skip (and count) malformed lines instead of failing on the first.
    skip_bad_lines: Bool = False
    start_s: real("seconds >= 0", ge=0) = 0.0
    exit_s: Float | None = None
    # Memory is split into VMAs of this size; 0 = one VMA per process.
    # The scanner's scan_size accounting is per whole VMA, as in the kernel.
    vma_mb: whole("MB >= 0 (0 = one VMA per process)", ge=0) = 256
    seed_offset: Int = 0
    # Layout kinds (harness/model/layouts, docs/workloads.md); their phase
    # length is move_every_s. graph: edges per vertex of the RMAT graph.
    avg_degree: real("edges per vertex > 0", gt=0) = 16.0
    # kvcache: bytes of one item (value and header); share of requests that are sets.
    value_bytes: whole("bytes in [8, 4096] (items of at most a page)", ge=8, le=4096) = 1024
    set_fraction: real("a share in (0, 1)", gt=0, lt=1) = 0.05
    # analytic: column arrays, the B-tree index's share of the footprint, the
    # share of accesses that are column scans (the rest index lookups).
    columns: whole("at least 1 column", ge=1) = 16
    index_share: real("a share in (0, 1)", gt=0, lt=1) = 0.1
    scan_share: real("a share in [0, 1]", ge=0, le=1) = 0.5
    # trace: stretch the trace to this footprint, each traced page standing
    # for a run of k pages (harness/traces/scaling.py); None = as traced.
    scale_to_gb: real("a size > 0", gt=0, le=PIB_IN_GB) | None = None

    def __post_init__(self) -> None:
        self._check_layout()
        if self.kind == "counts" and (self.path is None) == (self.counts is None):
            _fail("path", "a counts workload needs exactly one of path (.npy) or counts")
        if self.kind == "trace" and self.path is None:
            _fail("path", "a trace workload needs the trace file's path")
        if self.exit_s is not None and self.exit_s <= self.start_s:
            _fail("exit_s", "expected exit_s > start_s")
        if self.format not in ("auto", "lackey", "columnar", "damon"):
            _fail("format", f"expected one of 'auto', 'lackey', 'columnar', 'damon', "
                            f"got {self.format!r}")

    def _check_layout(self) -> None:
        """Layout fields' relations to the kind (each one's range is in its type)."""
        if self.scale_to_gb is not None and self.kind != "trace":
            _fail("scale_to_gb", "expected only on a trace workload")


@with_config(STRICT)
@dataclass(frozen=True)
class PolicyConfig:
    kind: PolicyKind = "kmmscand"
    version: Version = "v1"
    # None = the version's default (kmmscand_versions.py); resolved in __post_init__.
    scan_sleep_ms: Positive | None = None
    scan_period_ms: Positive | None = None
    scan_period_min_ms: Positive | None = None
    scan_period_max_ms: Positive | None = None
    scan_size_mb: Positive | None = None
    scan_size_min_mb: Positive | None = None
    scan_size_max_mb: Positive | None = None
    scan_change_scale: whole("a value >= 0", ge=0) | None = None
    mms_to_scan: Positive = 4096
    scan_enabled: Bool = True
    adapt: Bool = True
    target_node: Int = 0
    scan_scale: whole("0..10 (0 = never scan)", ge=0, le=10) = 1
    migrate_sleep_ms: whole("ms >= 0", ge=0) = 20
    migrate_batch: MigrateBatch = 0
    migrate_rate_limit_mbps: MigrateRateLimit = 0.0
    dedup: Dedup = False
    single_thread: Bool | None = None
    first_scan_delay_ms: whole("ms >= 0", ge=0) = 1000
    a_bit_miss: ABitMiss = 0.0
    list_slab: ListSlab = True
    # V2+ "still hot" check before migrating.
    hot_check: Bool | None = None
    # V3: queue only pages seen accessed in two consecutive scans.
    second_access: Bool | None = None
    failure_feedback: Bool | None = None
    # numab2 (NUMA balancing tiering mode).
    numab_scan_size_mb: Positive = 256
    # None: the period adapts per task as upstream (task_scan_start, then
    # update_task_scan_period between task_scan_min and task_scan_max, both
    # scaled by the RSS against numab_scan_size_mb); a value fixes it (ms).
    numab_scan_period_ms: Positive | None = None
    numab_scan_period_min_ms: Positive = 1000   # sysctl numa_balancing_scan_period_min_ms
    numab_scan_period_max_ms: Positive = 60000  # sysctl numa_balancing_scan_period_max_ms
    numab_tick_ms: Positive = 10
    hot_threshold_ms: Positive = 1000
    promote_rate_limit_mbps: real("MB/s > 0", gt=0) = 65536.0
    threshold_adjust_s: real("seconds > 0", gt=0) = 60.0
    # The numa_balancing sysctl beside a none or kmmscand policy: 1 runs NUMA
    # balancing's normal mode too (PTE marking and hint faults, which the
    # application pays; no tier promotion), as in the RFC's published V1 runs.
    numa_balancing: whole("0 or 1 (the numab2 policy is mode 2)", ge=0, le=1) = 0
    # damon_tier (DAMON's migrate_hot / migrate_cold). Defaults: samples/damon/mtier.c
    # (damon_sample_mtier_build_ctx) unless said otherwise.
    damon_sample_us: Positive = 5000          # attrs.sample_interval = 5 * USEC_PER_MSEC
    damon_aggr_us: Positive = 100_000         # attrs.aggr_interval = 100 * USEC_PER_MSEC
    damon_min_nr_regions: Positive = 10       # attrs.min_nr_regions
    damon_max_nr_regions: whole("at least 3 regions", ge=3) = 1000     # attrs.max_nr_regions
    # attrs.intervals_goal: 4% observed accesses over 3 aggregations, sampling
    # interval kept in [5 ms, 10 s]; damon_intervals_goal_bp 0 turns tuning off.
    damon_intervals_goal_bp: whole("a value >= 0", ge=0) = 400
    damon_intervals_goal_aggrs: Positive = 3
    damon_min_sample_us: Positive = 5000
    damon_max_sample_us: Positive = 10_000_000
    # Access-rate patterns, % of the aggregation's samples (damo's tiering
    # example: migrate_hot at 5% or more, migrate_cold at 0%; mtier.c's
    # min_nr_accesses 1 / max_nr_accesses 0 are the same at 20 samples).
    damon_hot_min_pct: real("a percentage in [0, 100]", ge=0, le=100) = 5.0
    damon_cold_max_pct: real("a percentage in [0, 100]", ge=0, le=100) = 0.0
    damon_apply_interval_ms: Positive = 1000  # damon_new_scheme's apply interval (1 s)
    damon_quota_reset_ms: Positive = 1000     # quota.reset_interval
    damon_quota_mb: whole("a value >= 0", ge=0) = 200            # quota.sz = 200 MiB (0 = no space quota)
    damon_quota_ms: whole("a value >= 0", ge=0) = 0              # time quota (quota.ms; mtier.c sets none)
    # Priority weights of damon_hot_score (which has no size term: mtier.c's
    # weight_sz 0 changes nothing).
    damon_weight_nr_accesses: whole("a value >= 0", ge=0) = 100
    damon_weight_age: whole("a value >= 0", ge=0) = 100
    # Quota goals on node target_node: migrate_hot DAMOS_QUOTA_NODE_MEM_USED_BP
    # 9970, migrate_cold DAMOS_QUOTA_NODE_MEM_FREE_BP 50 (0 = no goal).
    damon_hot_goal_bp: whole("a value >= 0", ge=0) = 9970
    damon_cold_goal_bp: whole("a value >= 0", ge=0) = 50
    # DAMOS_FILTER_TYPE_YOUNG: migrate_hot allows young pages only, migrate_cold
    # rejects them (mtier.c: damos_new_filter(YOUNG, true, promote)).
    damon_young_filter: Bool = True

    def __post_init__(self) -> None:
        for name, value in version_defaults(self.version).items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        # A version's default is in range (tests/config check every version).
        if not self.scan_period_min_ms <= self.scan_period_max_ms:
            _fail("scan_period_min_ms", "expected scan_period_min_ms <= scan_period_max_ms")
        if not self.numab_scan_period_min_ms <= self.numab_scan_period_max_ms:
            _fail("numab_scan_period_min_ms",
                  "expected numab_scan_period_min_ms <= numab_scan_period_max_ms")
        if not self.scan_size_min_mb <= self.scan_size_max_mb:
            _fail("scan_size_min_mb", "expected scan_size_min_mb <= scan_size_max_mb")
        self._check_damon()
        if self.numa_balancing and self.kind == "numab2":
            _fail("numa_balancing", "expected 0 with policy numab2 (it is NUMA balancing's "
                                    "mode 2 itself)")

    def _check_damon(self) -> None:
        """The DAMON knobs' relations to each other (each one's range is in its type)."""
        if self.damon_aggr_us < self.damon_sample_us:
            _fail("damon_aggr_us", "expected an aggregation interval >= damon_sample_us")
        if self.damon_max_nr_regions < self.damon_min_nr_regions:
            _fail("damon_max_nr_regions", "expected >= damon_min_nr_regions")
        if self.damon_max_sample_us < self.damon_min_sample_us:
            _fail("damon_max_sample_us", "expected >= damon_min_sample_us")


@with_config(STRICT)
@dataclass(frozen=True)
class CostConfig:
    """CPU costs. Defaults from MODEL.md; the scan cost has no public figure."""

    scan_pte_ns: Cost = 50.0
    scan_vma_ns: Cost = 1000.0
    # kzalloc(GFP_NOWAIT) of one migration-list entry (kmalloc-64 slab fast
    # path, zeroing, list_add): a plausible 50-200 ns, no public figure.
    kzalloc_ns: Cost = 100.0
    # 11.19 s for about 2.1 M pages (V0, 8 GB) is ~5.3 us a page, shootdown included.
    migrate_page_us: Cost = 3.3
    tlb_shootdown_us: Cost = 2.0
    # A migration-list entry that fails (destination below its watermark, which
    # also wakes kswapd; not hot in V2+): the mm and page lookup (a page-table
    # walk, often missing the caches), the checks, the kfree. No public figure;
    # a plausible 200-1000 ns.
    migrate_fail_ns: Cost = 500.0
    # An entry whose page already moved (a duplicate, or a page no longer on
    # the slow tier): the same lookup and checks stop at the node test; a
    # plausible 100-600 ns.
    migrate_stale_ns: Cost = 300.0
    hint_fault_us: Cost = 1.0
    numab_mark_pte_ns: Cost = 20.0
    # kswapd's cost per page it scans (pgscan_kswapd): isolating it from the
    # LRU and the rmap walk of folio_referenced (test and clear the A bit of
    # each mapping PTE), then the putback; a victim adds its migration
    # (migrate_page_us + tlb_shootdown_us). No public figure; a plausible
    # 100-500 ns.
    kswapd_scan_ns: Cost = 250.0
    # kdamond: one rmap walk of a sampled folio (damon_folio_mkold or
    # damon_folio_young: folio lock, one mapping's PTE test/clear), two per
    # region per sampling interval; also each page the young filter tests.
    # No public figure; like kswapd's folio_referenced, a plausible 100-500 ns.
    damon_rmap_ns: Cost = 200.0
    # kdamond's bookkeeping per region per aggregation interval (merge, split,
    # scheme checks and scores over the region list); a plausible 10-100 ns.
    damon_region_ns: Cost = 30.0


    @property
    def page_move_ns(self) -> float:
        """One page's migration with its TLB shootdown: a promotion by the
        migration thread, a demotion by kswapd."""
        return (self.migrate_page_us + self.tlb_shootdown_us) * 1000.0


@with_config(STRICT)
@dataclass(frozen=True)
class RuntimeConfig:
    """Closed-loop mode: a fixed amount of work whose progress depends on where
    its pages are and on the stalls charged to it (harness/model/runtime.py).

    Per-access cost on a node (ns): a TLB-miss page walk (footprint against the
    TLB's reach, page-table entries against the cache) plus the lines one access
    moves x the node's latency (local, remote socket, CXL host socket) / the
    lines in flight. Each constant's plausible range: CONSTANTS in
    harness/tools/calibrate.py (docs/calibration.md).
    """

    enabled: Bool = False
    threads: whole("at least 1 thread", ge=1) = 64
    iterations: whole("at least 1 iteration", ge=1) = 512
    # Accesses per thread; 0 = iterations x (footprint pages / threads).
    accesses_per_thread: real("a count >= 0 (0 = derived)", ge=0) = 0.0
    think_us: real("microseconds >= 0", ge=0) = 1.0
    # Bytes one access moves (cache lines of 64 B): its latency term and each
    # node's bandwidth limit.
    bytes_per_access: real("bytes > 0", gt=0) = 64.0
    # Cache lines one thread keeps in flight (memory-level parallelism).
    lines_in_flight: real("at least 1 line in flight", ge=1) = 1.0
    # Remote-socket top-tier latency / local; the hop to a CXL node on the other
    # socket adds (factor - 1) x the top-tier local latency.
    remote_factor: real("a factor >= 1", ge=1) = 1.5
    # L2 dTLB entries (reach = entries x page size).
    tlb_entries: whole("at least 1 entry", ge=1) = 3072
    # Cache capacity holding page-table entries (8 bytes per page).
    pte_cache_mib: real("a value >= 0", ge=0) = 16.0
    # Page walk whose PTE hits in the cache / misses to DRAM.
    walk_hit_ns: real("a value >= 0", ge=0) = 20.0
    walk_miss_ns: real("a value >= 0", ge=0) = 120.0
    # Where a walk that misses the cache reads its PTE: "placement" = the
    # page-table pages are on the node(s) the data was first placed on
    # (pagetable_alloc follows the task's mempolicy at the first fault, and
    # neither NUMA balancing nor kmmscand ever migrates a page-table page), at
    # that node's latency; "dram" = walk_miss_ns wherever the data is.
    page_tables: Literal["placement", "dram"] = "placement"
    # Time each CPU running the mm loses to one TLB-shootdown IPI (handler).
    ipi_handler_us: real("a value >= 0", ge=0) = 1.0
    step_ms: whole("ms >= 1", ge=1) = 100


@with_config(STRICT)
@dataclass(frozen=True)
class RunConfig:
    name: Str = "run"
    seed: whole("a seed >= 0", ge=0) = 1
    duration_s: real("seconds > 0", gt=0, le=DURATION_LIMIT_S) = 120.0
    sample_ms: whole("ms >= 1", ge=1) = 1000
    # Model resolution: kernel threads that take time (the migration thread,
    # kswapd) run in chunks up to the next other event, at most this far
    # ahead, so two busy threads see each other's page moves at this grain.
    thread_quantum_us: whole("microseconds in [1, 1000000]", ge=1, le=1_000_000) = 10000
    platform: PlatformConfig = field(default_factory=PlatformConfig)
    workloads: tuple[WorkloadConfig, ...] = field(default_factory=lambda: (WorkloadConfig(),))
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    costs: CostConfig = field(default_factory=CostConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def __post_init__(self) -> None:
        if self.runtime.enabled:
            if len(self.workloads) != 1:
                _fail("runtime.enabled", "closed-loop runtime needs exactly one workload")
            if self.workloads[0].kind in ("counts", "trace"):
                _fail("runtime.enabled", "closed-loop runtime needs a rate-form workload "
                      "(uniform, zipf, hotset, split, sequential)")
        if not self.workloads:
            _fail("workloads", "expected at least one workload")
        fast_ids = {n.id for n in self.platform.nodes if n.tier == "fast"}
        if self.policy.target_node not in fast_ids:
            _fail("policy.target_node", f"expected a fast-tier node id, one of {sorted(fast_ids)}")

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(self)

    def replace(self, overrides: dict[str, Any], source: str = OVERRIDE) -> RunConfig:
        """A copy with dotted-path overrides applied and re-validated."""
        raw = self.to_dict()
        for key, value in overrides.items():
            set_path(raw, key, value, source)
        return from_dict(raw, source)


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [_to_plain(x) for x in obj]
    return obj


def from_dict(raw: Any, source: str = "config") -> RunConfig:
    """Validate a plain mapping into a RunConfig; errors name `source`."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    raw = dict(raw)
    if "workload" in raw:
        if "workloads" in raw:
            raise ConfigError(f"{source}: workload: give either workload or workloads, not both")
        raw["workloads"] = [raw.pop("workload")]
    return build(RunConfig, raw, source)
