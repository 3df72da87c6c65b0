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
from harness.config.loader import STRICT, Bool, DurationS, Float, Int, SizeGB, Str, build
from harness.config.loader import fail as _fail
from harness.config.raw import OVERRIDE, set_path
from harness.errors import ConfigError

GIB = 1 << 30
MIB = 1 << 20

Tier = Literal["fast", "slow"]
WorkloadKind = Literal["uniform", "zipf", "hotset", "split", "sequential", "counts", "trace"]
Placement = Literal["first_touch", "slow", "fast", "split"]
PolicyKind = Literal["none", "kmmscand", "numab2", "oracle"]
Version = Literal["v0", "v1", "v2", "v3"]


@with_config(STRICT)
@dataclass(frozen=True)
class NodeConfig:
    id: Int
    tier: Tier
    capacity_gb: SizeGB
    # Load-to-use latency of one cache line from a CPU of the node's own socket.
    latency_ns: Float = 90.0
    bandwidth_gbps: Float = 100.0
    # The socket the node hangs off (a top-tier node's own socket; a CPU-less
    # CXL node's host socket). The closed-loop runtime spreads the threads
    # evenly over the sockets of the top-tier nodes.
    socket: Int = 0

    def __post_init__(self) -> None:
        if self.id < 0:
            _fail("id", "expected a node id >= 0")
        if self.capacity_gb <= 0:
            _fail("capacity_gb", "expected a capacity > 0")
        if self.latency_ns <= 0:
            _fail("latency_ns", "expected a latency > 0 (ns)")
        if self.bandwidth_gbps <= 0:
            _fail("bandwidth_gbps", "expected a bandwidth > 0 (GB/s)")
        if self.socket < 0:
            _fail("socket", "expected a socket id >= 0")


def _default_nodes() -> tuple[NodeConfig, ...]:
    return (
        NodeConfig(id=0, tier="fast", capacity_gb=16, latency_ns=90, bandwidth_gbps=100),
        NodeConfig(id=1, tier="slow", capacity_gb=64, latency_ns=220, bandwidth_gbps=36),
    )


@with_config(STRICT)
@dataclass(frozen=True)
class PlatformConfig:
    page_size_kb: Int = 4
    nodes: tuple[NodeConfig, ...] = field(default_factory=_default_nodes)
    # Watermarks as a share of each node's capacity (percent). Promotion needs
    # free pages above `high`; kswapd then demotes until free reaches `promo`.
    wmark_high_pct: Float = 1.0
    wmark_promo_pct: Float = 2.0
    kswapd: Bool = True
    # Fast-tier size as a share of the workload footprint (trace placement);
    # when set it overrides the fast nodes' capacity_gb (split evenly).
    fast_share_of_footprint: Float | None = None

    def __post_init__(self) -> None:
        if self.page_size_kb not in (4, 8, 16, 64):
            _fail("page_size_kb", "expected one of 4, 8, 16, 64")
        ids = [n.id for n in self.nodes]
        if len(set(ids)) != len(ids):
            _fail("nodes", f"node ids must be unique, got {ids}")
        if not any(n.tier == "fast" for n in self.nodes):
            _fail("nodes", "expected at least one fast-tier node")
        if not any(n.tier == "slow" for n in self.nodes):
            _fail("nodes", "expected at least one slow-tier node")
        if not 0 <= self.wmark_high_pct <= self.wmark_promo_pct < 50:
            _fail("wmark_promo_pct", "expected 0 <= wmark_high_pct <= wmark_promo_pct < 50")
        if self.fast_share_of_footprint is not None and not 0 < self.fast_share_of_footprint <= 1:
            _fail("fast_share_of_footprint", "expected a share in (0, 1]")

    @property
    def page_bytes(self) -> int:
        return self.page_size_kb * 1024


@with_config(STRICT)
@dataclass(frozen=True)
class WorkloadConfig:
    kind: WorkloadKind = "zipf"
    size_gb: SizeGB = 8.0
    processes: Int = 1
    placement: Placement = "slow"
    # Share of pages on the fast tier for placement "split" (cbench-split 50:50).
    split_fast_share: Float = 0.5
    # Total accesses per second of one process (rate form).
    access_rate: Float = 2.0e7
    zipf_s: Float = 1.0
    hot_fraction: Float = 0.1
    hot_share: Float = 0.9
    # hotset: the hot set moves every move_every_s; sequential: the sweep
    # window advances every move_every_s.
    move_every_s: Float = 30.0
    # sequential: share of the footprint accessed at once.
    window_fraction: Float = 0.1
    # counts: a .npy file (windows x pages, integers) or an inline list.
    path: Str | None = None
    counts: tuple[tuple[Int, ...], ...] | None = None
    window_ms: Int = 1000
    # trace: reader options ("format": lackey | columnar | damon | auto).
    format: Str = "auto"
    instructions_per_s: Float = 1.0e9
    # trace: skip (and count) malformed lines instead of failing on the first.
    skip_bad_lines: Bool = False
    start_s: Float = 0.0
    exit_s: Float | None = None
    # Memory is split into VMAs of this size; 0 = one VMA per process.
    # The scanner's scan_size accounting is per whole VMA, as in the kernel.
    vma_mb: Int = 256
    seed_offset: Int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("counts", "trace") and self.size_gb <= 0:
            _fail("size_gb", "expected a size > 0")
        if self.processes < 1:
            _fail("processes", "expected at least 1 process")
        if not 0 <= self.split_fast_share <= 1:
            _fail("split_fast_share", "expected a share in [0, 1]")
        if self.access_rate <= 0:
            _fail("access_rate", "expected accesses per second > 0")
        if self.zipf_s < 0:
            _fail("zipf_s", "expected an exponent >= 0")
        if not 0 < self.hot_fraction <= 1:
            _fail("hot_fraction", "expected a share in (0, 1]")
        if not 0 <= self.hot_share <= 1:
            _fail("hot_share", "expected a share in [0, 1]")
        if self.move_every_s <= 0:
            _fail("move_every_s", "expected seconds > 0")
        if not 0 < self.window_fraction <= 1:
            _fail("window_fraction", "expected a share in (0, 1]")
        if self.window_ms < 1:
            _fail("window_ms", "expected a window of at least 1 ms")
        if self.kind == "counts" and (self.path is None) == (self.counts is None):
            _fail("path", "a counts workload needs exactly one of path (.npy) or counts")
        if self.kind == "trace" and self.path is None:
            _fail("path", "a trace workload needs the trace file's path")
        if self.start_s < 0:
            _fail("start_s", "expected seconds >= 0")
        if self.exit_s is not None and self.exit_s <= self.start_s:
            _fail("exit_s", "expected exit_s > start_s")
        if self.vma_mb < 0:
            _fail("vma_mb", "expected MB >= 0 (0 = one VMA per process)")
        if self.instructions_per_s <= 0:
            _fail("instructions_per_s", "expected a rate > 0")
        if self.format not in ("auto", "lackey", "columnar", "damon"):
            _fail("format", f"expected one of 'auto', 'lackey', 'columnar', 'damon', "
                            f"got {self.format!r}")


@with_config(STRICT)
@dataclass(frozen=True)
class PolicyConfig:
    kind: PolicyKind = "kmmscand"
    version: Version = "v1"
    # None = the version's default (kmmscand_versions.py); resolved in __post_init__.
    scan_sleep_ms: Int | None = None
    scan_period_ms: Int | None = None
    scan_period_min_ms: Int | None = None
    scan_period_max_ms: Int | None = None
    scan_size_mb: Int | None = None
    scan_size_min_mb: Int | None = None
    scan_size_max_mb: Int | None = None
    scan_change_scale: Int | None = None
    mms_to_scan: Int = 4096
    scan_enabled: Bool = True
    adapt: Bool = True
    target_node: Int = 0
    scan_scale: Int = 1
    migrate_sleep_ms: Int = 20
    migrate_batch: Int = 0
    migrate_rate_limit_mbps: Float = 0.0
    dedup: Bool = False
    single_thread: Bool | None = None
    first_scan_delay_ms: Int = 1000
    # Share of accessed pages whose A bit reads clear (x86 clears without a
    # TLB flush, so a cached translation hides the access).
    a_bit_miss: Float = 0.0
    # V2+ "still hot" check before migrating.
    hot_check: Bool | None = None
    # V3: queue only pages seen accessed in two consecutive scans.
    second_access: Bool | None = None
    failure_feedback: Bool | None = None
    # numab2 (NUMA balancing tiering mode).
    numab_scan_size_mb: Int = 256
    # None: the period adapts per task as upstream (task_scan_start, then
    # update_task_scan_period between task_scan_min and task_scan_max, both
    # scaled by the RSS against numab_scan_size_mb); a value fixes it (ms).
    numab_scan_period_ms: Int | None = None
    numab_scan_period_min_ms: Int = 1000   # sysctl numa_balancing_scan_period_min_ms
    numab_scan_period_max_ms: Int = 60000  # sysctl numa_balancing_scan_period_max_ms
    numab_tick_ms: Int = 10
    hot_threshold_ms: Int = 1000
    promote_rate_limit_mbps: Float = 65536.0
    threshold_adjust_s: Float = 60.0
    # The numa_balancing sysctl beside a none or kmmscand policy: 1 runs NUMA
    # balancing's normal mode too (PTE marking and hint faults, which the
    # application pays; no tier promotion), as in the RFC's published V1 runs.
    numa_balancing: Int = 0

    def __post_init__(self) -> None:
        for name, value in version_defaults(self.version).items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        positive = ("scan_sleep_ms", "scan_period_ms", "scan_period_min_ms", "scan_period_max_ms",
                    "scan_size_mb", "scan_size_min_mb", "scan_size_max_mb", "mms_to_scan",
                    "numab_scan_size_mb", "numab_scan_period_ms", "numab_tick_ms",
                    "hot_threshold_ms", "numab_scan_period_min_ms", "numab_scan_period_max_ms")
        for name in positive:
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                _fail(name, "expected a value > 0")
        if not self.scan_period_min_ms <= self.scan_period_max_ms:
            _fail("scan_period_min_ms", "expected scan_period_min_ms <= scan_period_max_ms")
        if not self.numab_scan_period_min_ms <= self.numab_scan_period_max_ms:
            _fail("numab_scan_period_min_ms",
                  "expected numab_scan_period_min_ms <= numab_scan_period_max_ms")
        if not self.scan_size_min_mb <= self.scan_size_max_mb:
            _fail("scan_size_min_mb", "expected scan_size_min_mb <= scan_size_max_mb")
        if self.scan_change_scale < 0:
            _fail("scan_change_scale", "expected a value >= 0")
        if self.migrate_sleep_ms < 0:
            _fail("migrate_sleep_ms", "expected ms >= 0")
        if self.migrate_batch < 0:
            _fail("migrate_batch", "expected pages >= 0 (0 = drain the list)")
        if self.migrate_rate_limit_mbps < 0:
            _fail("migrate_rate_limit_mbps", "expected MB/s >= 0 (0 = unlimited)")
        if not 0 <= self.scan_scale <= 10:
            _fail("scan_scale", "expected 0..10 (0 = never scan)")
        if not 0 <= self.a_bit_miss < 1:
            _fail("a_bit_miss", "expected a probability in [0, 1)")
        if self.first_scan_delay_ms < 0:
            _fail("first_scan_delay_ms", "expected ms >= 0")
        if self.promote_rate_limit_mbps <= 0:
            _fail("promote_rate_limit_mbps", "expected MB/s > 0")
        if self.threshold_adjust_s <= 0:
            _fail("threshold_adjust_s", "expected seconds > 0")
        if self.numa_balancing not in (0, 1):
            _fail("numa_balancing", "expected 0 or 1 (the numab2 policy is mode 2)")
        if self.numa_balancing and self.kind == "numab2":
            _fail("numa_balancing", "expected 0 with policy numab2 (it is NUMA balancing's "
                                    "mode 2 itself)")


@with_config(STRICT)
@dataclass(frozen=True)
class CostConfig:
    """CPU costs. Defaults from MODEL.md; the scan cost has no public figure."""

    scan_pte_ns: Float = 50.0
    scan_vma_ns: Float = 1000.0
    # kzalloc(GFP_NOWAIT) of one migration-list entry (kmalloc-64 slab fast
    # path, zeroing, list_add): a plausible 50-200 ns, no public figure.
    kzalloc_ns: Float = 100.0
    # 11.19 s for about 2.1 M pages (V0, 8 GB) is ~5.3 us a page, shootdown included.
    migrate_page_us: Float = 3.3
    tlb_shootdown_us: Float = 2.0
    # A migration-list entry that fails (destination below its watermark, which
    # also wakes kswapd; not hot in V2+): the mm and page lookup (a page-table
    # walk, often missing the caches), the checks, the kfree. No public figure;
    # a plausible 200-1000 ns.
    migrate_fail_ns: Float = 500.0
    # An entry whose page already moved (a duplicate, or a page no longer on
    # the slow tier): the same lookup and checks stop at the node test; a
    # plausible 100-600 ns.
    migrate_stale_ns: Float = 300.0
    hint_fault_us: Float = 1.0
    numab_mark_pte_ns: Float = 20.0
    # kswapd's cost per page it scans (pgscan_kswapd): isolating it from the
    # LRU and the rmap walk of folio_referenced (test and clear the A bit of
    # each mapping PTE), then the putback; a victim adds its migration
    # (migrate_page_us + tlb_shootdown_us). No public figure; a plausible
    # 100-500 ns.
    kswapd_scan_ns: Float = 250.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) < 0:
                _fail(f.name, "expected a cost >= 0")

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
    lines in flight. fast_access_ns / slow_access_ns, when set, replace the
    whole cost on that tier (old calibrations). Ranges: README, calibrate.py.
    """

    enabled: Bool = False
    threads: Int = 64
    iterations: Int = 512
    # Accesses per thread; 0 = iterations x (footprint pages / threads).
    accesses_per_thread: Float = 0.0
    think_us: Float = 1.0
    fast_access_ns: Float | None = None
    slow_access_ns: Float | None = None
    # Multiplies every node's latency (kept for old configs).
    access_cost_factor: Float = 1.0
    # Bytes one access moves (cache lines of 64 B): its latency term and each
    # node's bandwidth limit.
    bytes_per_access: Float = 64.0
    # Cache lines one thread keeps in flight (memory-level parallelism).
    lines_in_flight: Float = 1.0
    # Remote-socket top-tier latency / local; the hop to a CXL node on the other
    # socket adds (factor - 1) x the top-tier local latency.
    remote_factor: Float = 1.5
    # L2 dTLB entries (reach = entries x page size).
    tlb_entries: Int = 3072
    # Cache capacity holding page-table entries (8 bytes per page).
    pte_cache_mib: Float = 16.0
    # Page walk whose PTE hits in the cache / misses to DRAM.
    walk_hit_ns: Float = 20.0
    walk_miss_ns: Float = 120.0
    # Time each CPU running the mm loses to one TLB-shootdown IPI (handler).
    ipi_handler_us: Float = 1.0
    # Multiplier on the in-task stalls (hint faults, synchronous migration, PTE
    # marking): fixed at 1 (the faulting thread loses its own time), not fitted.
    stall_share: Float = 1.0
    step_ms: Int = 100

    def __post_init__(self) -> None:
        if self.threads < 1:
            _fail("threads", "expected at least 1 thread")
        if self.iterations < 1:
            _fail("iterations", "expected at least 1 iteration")
        if self.accesses_per_thread < 0:
            _fail("accesses_per_thread", "expected a count >= 0 (0 = derived)")
        if self.think_us < 0:
            _fail("think_us", "expected microseconds >= 0")
        for name in ("fast_access_ns", "slow_access_ns"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                _fail(name, "expected nanoseconds > 0")
        if self.bytes_per_access <= 0:
            _fail("bytes_per_access", "expected bytes > 0")
        if self.access_cost_factor <= 0:
            _fail("access_cost_factor", "expected a factor > 0")
        if self.lines_in_flight < 1:
            _fail("lines_in_flight", "expected at least 1 line in flight")
        if self.remote_factor < 1:
            _fail("remote_factor", "expected a factor >= 1")
        if self.tlb_entries < 1:
            _fail("tlb_entries", "expected at least 1 entry")
        for name in ("pte_cache_mib", "walk_hit_ns", "walk_miss_ns", "ipi_handler_us"):
            if getattr(self, name) < 0:
                _fail(name, "expected a value >= 0")
        if self.stall_share < 0:
            _fail("stall_share", "expected a share >= 0")
        if self.step_ms < 1:
            _fail("step_ms", "expected ms >= 1")


@with_config(STRICT)
@dataclass(frozen=True)
class RunConfig:
    name: Str = "run"
    seed: Int = 1
    duration_s: DurationS = 120.0
    sample_ms: Int = 1000
    # Model resolution: kernel threads that take time (the migration thread,
    # kswapd) run in chunks up to the next other event, at most this far
    # ahead, so two busy threads see each other's page moves at this grain.
    thread_quantum_us: Int = 10000
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
        if self.seed < 0:
            _fail("seed", "expected a seed >= 0")
        if self.duration_s <= 0:
            _fail("duration_s", "expected seconds > 0")
        if self.sample_ms < 1:
            _fail("sample_ms", "expected ms >= 1")
        if not 1 <= self.thread_quantum_us <= 1_000_000:
            _fail("thread_quantum_us", "expected microseconds in [1, 1000000]")
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
