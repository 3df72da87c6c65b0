"""Run configuration: YAML -> frozen, validated dataclasses.

One YAML file describes a run (seed, duration, platform, workloads, policy,
costs). Every error names the file and the dotted field path.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from harness.errors import ConfigError

GIB = 1 << 30
MIB = 1 << 20

Tier = Literal["fast", "slow"]
WorkloadKind = Literal["uniform", "zipf", "hotset", "split", "sequential", "counts", "trace"]
Placement = Literal["first_touch", "slow", "fast", "split"]
PolicyKind = Literal["none", "kmmscand", "numab2", "oracle"]
Version = Literal["v0", "v1", "v2", "v3"]


def _fail(path: str, msg: str) -> typing.NoReturn:
    raise ConfigError(f"{path}: {msg}")


# Per-version constants from the patches (MODEL.md): scan_sleep_ms,
# scan_period (min, default, max) ms, scan_size (min, default, max) MB,
# decay cut-off under which a decayed delta counts as zero.
VERSION_DEFAULTS: dict[str, dict[str, int]] = {
    "v0": dict(scan_sleep_ms=16, scan_period_min_ms=400, scan_period_ms=2000,
               scan_period_max_ms=5000, scan_size_min_mb=512, scan_size_mb=4096,
               scan_size_max_mb=16384, scan_change_scale=100),
    "v1": dict(scan_sleep_ms=16, scan_period_min_ms=500, scan_period_ms=2000,
               scan_period_max_ms=5000, scan_size_min_mb=256, scan_size_mb=1024,
               scan_size_max_mb=4096, scan_change_scale=256),
    "v2": dict(scan_sleep_ms=20, scan_period_min_ms=600, scan_period_ms=2000,
               scan_period_max_ms=5000, scan_size_min_mb=256, scan_size_mb=1024,
               scan_size_max_mb=4096, scan_change_scale=256),
    "v3": dict(scan_sleep_ms=20, scan_period_min_ms=600, scan_period_ms=2000,
               scan_period_max_ms=5000, scan_size_min_mb=256, scan_size_mb=1024,
               scan_size_max_mb=4096, scan_change_scale=256),
}


@dataclass(frozen=True)
class NodeConfig:
    id: int
    tier: Tier
    capacity_gb: float
    latency_ns: float = 90.0
    bandwidth_gbps: float = 100.0

    def __post_init__(self) -> None:
        if self.id < 0:
            _fail("id", "expected a node id >= 0")
        if self.capacity_gb <= 0:
            _fail("capacity_gb", "expected a capacity > 0")
        if self.latency_ns <= 0 or self.bandwidth_gbps <= 0:
            _fail("latency_ns", "expected latency and bandwidth > 0")


def _default_nodes() -> tuple[NodeConfig, ...]:
    return (
        NodeConfig(id=0, tier="fast", capacity_gb=16, latency_ns=90, bandwidth_gbps=100),
        NodeConfig(id=1, tier="slow", capacity_gb=64, latency_ns=220, bandwidth_gbps=36),
    )


@dataclass(frozen=True)
class PlatformConfig:
    page_size_kb: int = 4
    nodes: tuple[NodeConfig, ...] = field(default_factory=_default_nodes)
    # Watermarks as a share of each node's capacity (percent). Promotion needs
    # free pages above `high`; kswapd then demotes until free reaches `promo`.
    wmark_high_pct: float = 1.0
    wmark_promo_pct: float = 2.0
    kswapd: bool = True
    # Fast-tier size as a share of the workload footprint (trace placement);
    # when set it overrides the fast nodes' capacity_gb (split evenly).
    fast_share_of_footprint: float | None = None

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


@dataclass(frozen=True)
class WorkloadConfig:
    kind: WorkloadKind = "zipf"
    size_gb: float = 8.0
    processes: int = 1
    placement: Placement = "slow"
    # Share of pages on the fast tier for placement "split" (cbench-split 50:50).
    split_fast_share: float = 0.5
    # Total accesses per second of one process (rate form).
    access_rate: float = 2.0e7
    zipf_s: float = 1.0
    hot_fraction: float = 0.1
    hot_share: float = 0.9
    # hotset: the hot set moves every move_every_s; sequential: the sweep
    # window advances every move_every_s.
    move_every_s: float = 30.0
    # sequential: share of the footprint accessed at once.
    window_fraction: float = 0.1
    # counts: a .npy file (windows x pages, integers) or an inline list.
    path: str | None = None
    counts: tuple[tuple[int, ...], ...] | None = None
    window_ms: int = 1000
    # trace: reader options ("format": lackey | columnar | damon | auto).
    format: str = "auto"
    instructions_per_s: float = 1.0e9
    # trace: skip (and count) malformed lines instead of failing on the first.
    skip_bad_lines: bool = False
    start_s: float = 0.0
    exit_s: float | None = None
    # Memory is split into VMAs of this size; 0 = one VMA per process.
    # The scanner's scan_size accounting is per whole VMA, as in the kernel.
    vma_mb: int = 256
    seed_offset: int = 0

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


@dataclass(frozen=True)
class PolicyConfig:
    kind: PolicyKind = "kmmscand"
    version: Version = "v1"
    # None = the version's default (VERSION_DEFAULTS); resolved in __post_init__.
    scan_sleep_ms: int | None = None
    scan_period_ms: int | None = None
    scan_period_min_ms: int | None = None
    scan_period_max_ms: int | None = None
    scan_size_mb: int | None = None
    scan_size_min_mb: int | None = None
    scan_size_max_mb: int | None = None
    scan_change_scale: int | None = None
    mms_to_scan: int = 4096
    scan_enabled: bool = True
    adapt: bool = True
    target_node: int = 0
    scan_scale: int = 1
    migrate_sleep_ms: int = 20
    migrate_batch: int = 0
    migrate_rate_limit_mbps: float = 0.0
    dedup: bool = False
    single_thread: bool | None = None
    first_scan_delay_ms: int = 1000
    # Share of accessed pages whose A bit reads clear (x86 clears without a
    # TLB flush, so a cached translation hides the access).
    a_bit_miss: float = 0.0
    # V2+ "still hot" check before migrating.
    hot_check: bool | None = None
    # V3: queue only pages seen accessed in two consecutive scans.
    second_access: bool | None = None
    failure_feedback: bool | None = None
    # numab2 (NUMA balancing tiering mode).
    numab_scan_size_mb: int = 256
    numab_scan_period_ms: int = 1000
    numab_tick_ms: int = 10
    hot_threshold_ms: int = 1000
    promote_rate_limit_mbps: float = 65536.0
    threshold_adjust_s: float = 60.0

    def __post_init__(self) -> None:
        defaults = VERSION_DEFAULTS[self.version]
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        v = self.version
        for name, value in (("single_thread", v == "v0"),
                            ("hot_check", v in ("v2", "v3")),
                            ("second_access", v == "v3"),
                            ("failure_feedback", v == "v3")):
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        positive = ("scan_sleep_ms", "scan_period_ms", "scan_period_min_ms", "scan_period_max_ms",
                    "scan_size_mb", "scan_size_min_mb", "scan_size_max_mb", "mms_to_scan",
                    "numab_scan_size_mb", "numab_scan_period_ms", "numab_tick_ms",
                    "hot_threshold_ms")
        for name in positive:
            if getattr(self, name) <= 0:
                _fail(name, "expected a value > 0")
        if not self.scan_period_min_ms <= self.scan_period_max_ms:
            _fail("scan_period_min_ms", "expected scan_period_min_ms <= scan_period_max_ms")
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


@dataclass(frozen=True)
class CostConfig:
    """CPU costs. Defaults from MODEL.md; the scan cost has no public figure."""

    scan_pte_ns: float = 50.0
    scan_vma_ns: float = 1000.0
    # 11.19 s for about 2.1 M pages (V0, 8 GB) is ~5.3 us a page, shootdown included.
    migrate_page_us: float = 3.3
    tlb_shootdown_us: float = 2.0
    hint_fault_us: float = 1.0
    numab_mark_pte_ns: float = 20.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) < 0:
                _fail(f.name, "expected a cost >= 0")


@dataclass(frozen=True)
class RuntimeConfig:
    """Closed-loop mode: a fixed amount of work whose progress depends on where
    its pages are and on the overhead charged to it (issue: runtime model).

    Per-access cost on a node: fast_access_ns / slow_access_ns for its tier
    when set (calibrated), else the node's latency_ns x access_cost_factor.
    """

    enabled: bool = False
    threads: int = 64
    iterations: int = 512
    # Accesses per thread; 0 = iterations x (footprint pages / threads).
    accesses_per_thread: float = 0.0
    think_us: float = 1.0
    fast_access_ns: float | None = None
    slow_access_ns: float | None = None
    access_cost_factor: float = 1.0
    # Bytes moved per access, for the bandwidth limit of each node.
    bytes_per_access: float = 64.0
    # Share of application-charged CPU time (hint faults, sync migration,
    # PTE marking) that lies on the critical path, spread over the threads.
    stall_share: float = 1.0
    step_ms: int = 100

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
        if self.stall_share < 0:
            _fail("stall_share", "expected a share >= 0")
        if self.step_ms < 1:
            _fail("step_ms", "expected ms >= 1")


@dataclass(frozen=True)
class RunConfig:
    name: str = "run"
    seed: int = 1
    duration_s: float = 120.0
    sample_ms: int = 1000
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
        if not self.workloads:
            _fail("workloads", "expected at least one workload")
        fast_ids = {n.id for n in self.platform.nodes if n.tier == "fast"}
        if self.policy.target_node not in fast_ids:
            _fail("policy.target_node", f"expected a fast-tier node id, one of {sorted(fast_ids)}")

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(self)

    def replace(self, overrides: dict[str, Any], source: str = "override") -> RunConfig:
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


# ----------------------------------------------------------------- loading


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in typing.get_args(tp))
    if origin is tuple:
        return "a list"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        tp, str(tp))


def _convert(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is Literal:
        if value not in typing.get_args(tp):
            _fail(path, f"expected {_describe(tp)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a, path)
            except ConfigError:
                continue
        _fail(path, f"expected {_describe(tp)}, got {value!r}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            _fail(path, f"expected a list, got {value!r}")
        (item,) = typing.get_args(tp)[:1]
        return tuple(_convert(v, item, f"{path}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path)
    if tp is bool:
        if not isinstance(value, bool):
            _fail(path, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            _fail(path, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            _fail(path, f"expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            _fail(path, f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp}")  # pragma: no cover


def _build(cls: type, raw: Any, path: str) -> Any:
    prefix = f"{path}." if path else ""
    if not isinstance(raw, dict):
        _fail(path or "(top level)", f"expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in names:
            _fail(f"{prefix}{key}", f"unknown field; expected one of {', '.join(sorted(names))}")
    kwargs = {k: _convert(v, hints[k], f"{prefix}{k}") for k, v in raw.items()}
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        # Field validators raise "field: msg"; prefix with the full path.
        raise ConfigError(f"{prefix}{exc}") from None


def from_dict(raw: Any, source: str = "config") -> RunConfig:
    """Validate a plain mapping into a RunConfig; errors name `source`."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    raw = dict(raw)
    if "workload" in raw:
        if "workloads" in raw:
            raise ConfigError(f"{source}: workload: give either workload or workloads, not both")
        raw["workloads"] = [raw.pop("workload")]
    try:
        return _build(RunConfig, raw, "")
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def parse_override(text: str, source: str = "--set") -> tuple[str, Any]:
    """`a.b=value` with the value parsed as YAML (so 512 is an int)."""
    if "=" not in text:
        raise ConfigError(f"{source}: {text!r}: expected KEY=VALUE, e.g. policy.scan_size_mb=512")
    key, _, value = text.partition("=")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed


def set_path(raw: dict[str, Any], key: str, value: Any, source: str = "--set") -> None:
    """Set a dotted path in a raw config mapping; `workload.x` targets every workload."""
    parts = key.split(".")
    if parts[0] == "workload" and "workloads" in raw and "workload" not in raw:
        targets = raw["workloads"]
        parts = parts[1:]
    else:
        targets = [raw]
    if not parts or not all(parts):
        raise ConfigError(f"{source}: {key!r}: expected a dotted field path")
    for target in targets:
        node = target
        for i, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"{source}: {'.'.join(parts[:i + 1])}: expected a list index")
                node = node[int(part)]
            else:
                node = node.setdefault(part, {})
            if not isinstance(node, dict | list):
                raise ConfigError(f"{source}: {'.'.join(parts[:i + 1])}: not a mapping")
        if isinstance(node, list):
            last = parts[-1]
            if not last.isdigit() or int(last) >= len(node):
                raise ConfigError(f"{source}: {key}: expected a list index")
            node[int(last)] = value
        else:
            node[parts[-1]] = value


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{p}:{where}: not valid YAML") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level")
    return raw


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`: mappings merge key by key, anything else replaces."""
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_yaml_extends(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Load YAML; `extends: other.yaml` (relative to this file) is merged underneath."""
    p = Path(path)
    raw = load_yaml(p)
    ext = raw.pop("extends", None)
    if ext is None:
        return raw
    if not isinstance(ext, str):
        raise ConfigError(f"{p}: extends: expected a file path")
    base_path = (p.parent / ext).resolve()
    if base_path in _seen:
        raise ConfigError(f"{p}: extends: {ext} includes itself")
    if not base_path.exists():
        raise ConfigError(f"{p}: extends: {ext}: no such file")
    return deep_merge(load_yaml_extends(base_path, _seen + (base_path,)), raw)


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Load a run config file, apply `--set` overrides, validate."""
    p = Path(path)
    raw = load_yaml_extends(p)
    raw.setdefault("name", p.stem)
    for text in overrides or []:
        key, value = parse_override(text)
        set_path(raw, key, value)
    cfg = from_dict(raw, str(p))
    return _resolve_paths(cfg, p.parent)


def _resolve_paths(cfg: RunConfig, base: Path) -> RunConfig:
    """Workload file paths are relative to the config file."""
    wls = []
    for w in cfg.workloads:
        if w.path is not None and not Path(w.path).is_absolute():
            cand = base / w.path
            if cand.exists() or not Path(w.path).exists():
                w = dataclasses.replace(w, path=str(cand))
        wls.append(w)
    return dataclasses.replace(cfg, workloads=tuple(wls))
