"""A run config file: YAML (with `extends`), overrides, paths relative to the file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.config.raw import (
    OVERRIDE,
    blame_override,
    load_yaml_extends,
    parse_override,
    set_path,
)
from harness.config.schema import RunConfig, from_dict
from harness.errors import ConfigError

# Top-level keys that tell the two kinds of YAML file apart.
RUN_CONFIG_KEYS = {"platform", "workload", "workloads", "policy", "costs", "runtime",
                   "duration_s", "sample_ms", "extends"}
EXPERIMENT_KEYS = {"base", "suite", "sweep", "study", "seeds", "holdout_seeds", "set"}


def load_config(path: str | Path, overrides: list[str] | None = None,
                override_source: str = OVERRIDE) -> RunConfig:
    """Load a run config file, apply `KEY=VALUE` overrides, validate.

    `override_source` names the overrides in their errors (a command passes
    its flag)."""
    p = Path(path)
    raw = load_yaml_extends(p)
    if set(raw) & EXPERIMENT_KEYS and not set(raw) & RUN_CONFIG_KEYS:
        raise ConfigError(f"{p}: this is an experiment file (base, suite, sweep, study); this "
                          "command takes a run config, e.g. configs/zipf.yaml (sweep, tune and "
                          "compare take experiment files)")
    raw.setdefault("name", p.stem)
    for text in overrides or []:
        key, value = parse_override(text, override_source)
        set_path(raw, key, value, override_source)
    try:
        cfg = from_dict(raw, str(p))
    except ConfigError as exc:
        blamed = blame_override(str(exc), overrides or [], override_source)
        if blamed is None:
            raise
        raise ConfigError(blamed) from None
    return resolve_paths(cfg, p.parent)


def resolve_paths(cfg: RunConfig, base: Path) -> RunConfig:
    """Workload file paths are relative to the config file."""
    wls = []
    for w in cfg.workloads:
        if w.path is not None and not Path(w.path).is_absolute():
            cand = base / w.path
            if cand.exists() or not Path(w.path).exists():
                w = dataclasses.replace(w, path=str(cand))
        wls.append(w)
    return dataclasses.replace(cfg, workloads=tuple(wls))
