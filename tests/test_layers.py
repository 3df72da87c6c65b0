"""The package tree is the architecture: imports point down the layers, no
cycles, modules small enough to read.

The layer order is written once, here. A module may import modules of its own
package (top-level folder of harness/) and of any lower layer; an import of a
higher layer, or a cycle between modules, fails. Imports under
``if TYPE_CHECKING:`` count too: an annotation that needs a module above is a
dependency all the same (the model's engine knows a policy protocol, not the
policies). No module is longer than MAX_LINES, and no compiled kernel takes
more than MAX_KERNEL_ARGS parameters (its state comes in named records).
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest
from numba.core.registry import CPUDispatcher

ROOT = Path(__file__).resolve().parents[1] / "harness"

# Highest first. Packages on one line are peers: they may not import each other.
LAYERS: list[set[str]] = [
    {"__main__"},
    {"cli"},
    {"commands"},
    {"api"},
    {"tools", "search", "report"},
    {"analysis"},
    {"run"},
    {"experiment"},
    {"model"},
    {"traces"},
    {"config"},
    {"errors", "atomic"},
]
RANK = {pkg: i for i, group in enumerate(LAYERS) for pkg in group}
MAX_LINES = 450
MAX_KERNEL_ARGS = 8


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def harness_imports(path: Path) -> set[str]:
    """Modules of harness imported by this file, at any depth (lazy imports and
    TYPE_CHECKING imports count)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "harness")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "harness":
                continue
            # `from harness.x import y` names the submodule y, if there is one;
            # otherwise it takes y from harness.x itself.
            base = ROOT.parent / mod.replace(".", "/")
            for a in node.names:
                if (base / a.name).is_dir() or (base / f"{a.name}.py").exists():
                    out.add(f"{mod}.{a.name}")
                else:
                    out.add(mod)
    out.discard(me)
    return out


def top(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "harness"


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
GRAPH = {m: {i for i in harness_imports(p) if i in MODULES} for m, p in MODULES.items()}


def test_every_package_has_a_layer():
    missing = sorted({top(m) for m in MODULES} - set(RANK) - {"harness"})
    assert not missing, f"packages with no layer in LAYERS: {missing}"


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_imports_point_down(mod):
    me = top(mod)
    if me == "harness":  # harness/__init__.py
        return
    bad = []
    for dep in sorted(GRAPH[mod]):
        other = top(dep)
        if other in ("harness", me):
            continue
        if RANK[other] <= RANK[me]:
            bad.append(f"{dep} (layer {other})")
    assert not bad, f"{mod} (layer {me}) imports upward or sideways: {bad}"


def test_no_import_cycles():
    """Peel off modules whose imports are all peeled; what is left sits on a cycle."""
    remaining = {m: set(deps) for m, deps in GRAPH.items()}
    while True:
        leaves = [m for m, deps in remaining.items() if not deps]
        if not leaves:
            break
        for m in leaves:
            del remaining[m]
        for deps in remaining.values():
            deps.difference_update(leaves)
    while True:  # then modules nothing left imports: what remains is on a cycle
        used = set().union(*remaining.values()) if remaining else set()
        roots = [m for m in remaining if m not in used]
        if not roots:
            break
        for m in roots:
            del remaining[m]
    assert not remaining, f"import cycle among: {sorted(remaining)}"


def test_the_check_sees_a_violation(tmp_path):
    """The parser finds lazy, relative and TYPE_CHECKING imports (the test can fail)."""
    f = ROOT / "model" / "_probe_.py"
    try:
        f.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    from harness.run import worker\n"
                     "def f():\n    from harness.search import study\n    from . import engine\n")
        deps = harness_imports(f)
    finally:
        f.unlink()
    assert "harness.search.study" in deps and "harness.model.engine" in deps
    assert "harness.run.worker" in deps


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_module_is_short(mod):
    n = len(MODULES[mod].read_text().splitlines())
    assert n <= MAX_LINES, f"{MODULES[mod]}: {n} lines (at most {MAX_LINES}): split it by job"


def model_kernels() -> dict[str, CPUDispatcher]:
    """Every numba-compiled function defined in a module of harness/model."""
    out = {}
    for mod in sorted(m for m in MODULES if m.startswith("harness.model")):
        module = importlib.import_module(mod)
        for name, obj in vars(module).items():
            if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == mod:
                out[f"{mod}.{name}"] = obj
    return out


KERNELS = model_kernels()


def test_kernels_found():
    """The search sees the kernels (the check below can fail)."""
    assert "harness.model.kernels.migrate.migrate_entries" in KERNELS
    assert "harness.model.kernels.reclaim.kswapd_chunk" in KERNELS


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernel_takes_few_parameters(name):
    params = inspect.signature(KERNELS[name].py_func).parameters
    assert len(params) <= MAX_KERNEL_ARGS, (
        f"{name} takes {len(params)} parameters (at most {MAX_KERNEL_ARGS}): "
        "pass its state as records (harness/model/kernels/records.py)")
