"""Raw (untyped) run-config mappings: YAML files, `extends`, dotted-path overrides.

The experiment loader works on these too: it sets suite entries and study
parameters on the raw base mapping before the typed build, so an unset knob
keeps its policy version's default.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError

# Names what an override came from in its errors; a command passes its flag.
OVERRIDE = "override"


class _StrictLoader(yaml.SafeLoader):
    """safe_load without aliases (no shipped config needs them, and nested
    ones expand exponentially: "billion laughs") and without duplicate keys
    (YAML would keep the last one silently)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise _Refused(mark, "YAML aliases (*name) are not accepted; write the value out")
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, list | dict):
                raise _Refused(key_node.start_mark, "a mapping key must be a scalar")
            if key in seen:
                raise _Refused(key_node.start_mark, f"duplicate key {key!r}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _Refused(yaml.YAMLError):
    def __init__(self, mark, message: str):
        super().__init__(message)
        self.problem_mark, self.message = mark, message


def parse_override(text: str, source: str = OVERRIDE) -> tuple[str, Any]:
    """`a.b=value` with the value parsed as YAML (so 512 is an int)."""
    if "=" not in text:
        raise ConfigError(f"{source}: {text!r}: expected KEY=VALUE, e.g. policy.scan_size_mb=512")
    key, _, value = text.partition("=")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed


def blame_override(msg: str, overrides: list[str], source: str) -> str | None:
    """An error message about a field an override set, rewritten to name the
    override (`--set KEY=VALUE: path: message`) instead of the file; None when
    no override set that field."""
    for text in overrides:
        key = text.partition("=")[0].strip()
        parts = []
        for i, part in enumerate(key.split(".")):
            if part.isdigit():
                parts.append(rf"(?:\.{part}|\[{part}\])")
            elif i == 0 and part == "workload":
                parts.append(r"workloads\[\d+\]")
            else:
                parts.append(("" if i == 0 else r"\.") + re.escape(part))
        m = re.search(r"(?:^|: )(" + "".join(parts) + r"): ", msg)
        if m:
            return f"{source} {text}: {msg[m.start(1):]}"
    return None


def set_path(raw: dict[str, Any], key: str, value: Any, source: str = OVERRIDE) -> None:
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
    """A YAML file's top-level mapping (strict: see _StrictLoader; UTF-8 text only)."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory, expected a YAML file")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        if b"\0" in data:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL byte")
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a text file; expected UTF-8 YAML") from None
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except _Refused as exc:
        raise ConfigError(f"{p}: line {exc.problem_mark.line + 1}: {exc.message}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{p}:{where}: not valid YAML") from None
    if raw is None:
        # A zero-byte file or one of comments only: most likely the wrong file
        # (running the built-in defaults instead would hide that).
        raise ConfigError(f"{p}: empty config (no settings, only blank lines or comments); "
                          "expected a YAML mapping of settings")
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


