"""`tiersweep simulate CONFIG [--set k=v ...] [--json]`."""

from __future__ import annotations

import json
import math

from harness.config import load_config
from harness.model import simulate


def register(sub) -> None:
    p = sub.add_parser("simulate", help="run one configuration and print its metrics")
    p.add_argument("config", help="run config YAML")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. policy.scan_size_mb=512 (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--timeseries", action="store_true", help="include the time series (JSON)")
    p.set_defaults(func=run)


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, list):
        return [_clean(x) for x in v]
    return v


def run(args) -> int:
    cfg = load_config(args.config, args.overrides, override_source="--set")
    res = simulate(cfg)
    if args.json:
        out = {"config": cfg.name, "seed": cfg.seed, **{k: _clean(v) for k, v in res.metrics.items()}}
        if args.timeseries:
            out["timeseries"] = {k: _clean(v) for k, v in res.timeseries.items()}
        print(json.dumps(out))
        return 0
    print(format_summary(cfg.name, res.metrics))
    return 0


def format_summary(name: str, m: dict) -> str:
    lines = [
        f"{name}: policy {m['policy']}, {m['footprint_gb']:.2f} GiB, {m['duration_s']:.0f} s "
        f"simulated in {m['wall_s']:.2f} s",
        f"  fast-tier hit rate  {m['hit_rate']:.4f}  (none: {m['hit_rate_none']:.4f}, "
        f"gain {m['hit_rate_gain']:+.4f})",
        f"  objective           {m['objective']:.3f}  (gain pp per CPU% + 1)",
        f"  promotions          {m['promotions']}  failed {m['promote_failed']}  "
        f"demotions {m['demotions']}  ping-pong {m['pingpong']}",
        f"  PTEs scanned        {m['ptes_scanned']}  mm scans {m['mm_scans']}  "
        f"hint faults {m['hint_faults']}",
        f"  CPU seconds         scanner {m['scanner_cpu_s']:.3f}  migrator "
        f"{m['migrator_cpu_s']:.3f}  application {m['app_overhead_s']:.3f}",
        f"  migrated            {m['bytes_migrated'] / 2**30:.3f} GiB  "
        f"time to 90% of final hit rate {m['time_to_90pct_s']} s",
    ]
    fails = {k[7:]: v for k, v in m.items() if k.startswith("failed_") and v}
    if fails:
        lines.append("  failures by reason  " + ", ".join(f"{k} {v}" for k, v in fails.items()))
    return "\n".join(lines)
