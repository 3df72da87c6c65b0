"""The README is a front page and the docs hold the depth: the two fresh-machine
commands on top (CI runs the second), at most 300 lines, every page of docs/
listed in its index, every relative link and anchor resolves, and every
`python` block runs as written (in a scratch copy of configs/)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO

README = REPO / "README.md"
DOCS = REPO / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
BLOCKS = [(p, code) for p in PAGES
          for code in re.findall(r"```python\n(.*?)```", p.read_text(), re.S)]
LINK = re.compile(r"\]\(((?!https?:|mailto:)[^)\s]+)\)")


def test_the_readme_opens_with_the_two_fresh_machine_commands():
    first_block = re.search(r"```sh\n(.*?)```", README.read_text(), re.S).group(1)
    install_and_run, install_and_test = first_block.strip().split("\n")
    assert install_and_run == ("python3.11 -m venv .venv && .venv/bin/pip install -e . && "
                               ".venv/bin/tiersweep tune configs/production-study.yaml")
    assert install_and_test == ('python3.11 -m venv .venv && .venv/bin/pip install -e ".[test]" '
                                "&& .venv/bin/python -m pytest -q")
    # .ci/run installs the test extras and runs the same test command
    ci = (REPO / ".ci" / "run").read_text()
    assert '.venv/bin/pip install -q -e ".[test]"' in ci
    assert ci.rstrip().endswith(".venv/bin/python -m pytest -q")


def test_the_readme_is_a_front_page():
    text = README.read_text()
    assert len(text.splitlines()) <= 300
    for command in ("simulate", "sweep", "tune", "compare", "report", "defaults", "trace"):
        assert f"tiersweep {command} " in text, command
    assert "--address" in text  # the cluster


def test_the_docs_index_lists_every_page():
    index = (DOCS / "README.md").read_text()
    listed = {t for t in LINK.findall(index) if t.endswith(".md")}
    pages = {p.name for p in DOCS.glob("*.md")} - {"README.md"}
    assert pages <= listed, pages - listed
    assert "docs/README.md" in LINK.findall(README.read_text())


def _anchors(page: Path) -> set[str]:
    """GitHub's heading ids (lower case, punctuation dropped, spaces to
    hyphens) and explicit <a id> anchors."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    heads = re.findall(r"^#+ (.+)$", text, re.M)
    ids = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}
    return ids | set(re.findall(r'<a id="([^"]+)"', text))


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(REPO).as_posix() for p in PAGES])
def test_every_relative_link_and_anchor_resolves(page):
    bad = []
    for target in LINK.findall(page.read_text()):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists() or (anchor and dest.suffix == ".md"
                                 and anchor not in _anchors(dest)):
            bad.append(target)
    assert not bad, bad


def test_the_anchor_rule_is_githubs():
    assert {"the-engine-vectorized-compiled-where-sequential", "tiersweep-compare"} <= \
        _anchors(DOCS / "model-fidelity.md") | _anchors(DOCS / "reading-results.md")


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(REPO).as_posix() for p in PAGES])
def test_no_diary_in_the_documentation(page):
    text = page.read_text().lower()
    for phrase in ("this morning", "today", "yesterday", "tonight", "this round"):
        assert phrase not in text, phrase


def test_there_are_python_examples():
    assert any(p == README for p, _ in BLOCKS)


@pytest.mark.parametrize("page,code", BLOCKS,
                         ids=[f"{p.relative_to(REPO).as_posix()}-{i}"
                              for i, (p, _) in enumerate(BLOCKS)])
def test_python_block_runs(page, code, tmp_path, monkeypatch, capsys):
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(page), "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert out.strip()  # the example prints what it shows
