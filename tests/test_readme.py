"""The README's Python examples run as written (in a scratch copy of configs/)."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.conftest import REPO

BLOCKS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)


def test_the_readme_has_python_examples():
    assert BLOCKS


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_block_runs(code, tmp_path, monkeypatch, capsys):
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert out.strip()  # the example prints what it shows


def test_the_readmes_relative_links_and_images_resolve():
    """Every file the README links or shows (MODEL.md, screenshots, figures)
    is in the repository."""
    text = (REPO / "README.md").read_text()
    targets = re.findall(r"\]\(((?!https?:|#)[^)\s]+)\)", text)
    assert "docs/MODEL.md" in targets and "docs/report-regret.png" in targets
    missing = [t for t in targets if not (REPO / t.split("#")[0]).exists()]
    assert not missing, missing
