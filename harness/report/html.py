"""`tiersweep report RUN_DIR`: figures (PNG + SVG), their tables (CSV) and one
self-contained ``report.html``, all computed from the results directory.

Same results directory -> same bytes: figures carry no dates, SVG ids use a
fixed salt, tables are sorted deterministically, the HTML has no timestamp.
Every file is written atomically (``harness.atomic``). The figures themselves
are built in ``harness.report.figures``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness import atomic
from harness.analysis.points import with_points
from harness.analysis.runs import RunData, load_run
from harness.analysis.study_tables import find_study
from harness.report import plots
from harness.report.figures import FigureOut, build_figures
from harness.report.tables import caption, for_people
from harness.run.store.layout import FIGURES_DIR, REPORT, TRIALS

# ------------------------------------------------------------------ writing


def figure_bytes(fig, fmt: str) -> bytes:
    """PNG or SVG bytes with no date or software stamp (reproducible)."""
    buf = io.BytesIO()
    meta = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    with plots.style():
        fig.savefig(buf, format=fmt, metadata=meta)
    return buf.getvalue()


# ------------------------------------------------------------------ html


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#222;line-height:1.4;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
img{max-width:100%;height:auto;border:1px solid #eee}
table{border-collapse:collapse;font-size:0.8em;margin:0.6em 0 1.2em 0}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#f3f3f3;vertical-align:bottom;max-width:11em;white-space:normal}
td{white-space:nowrap;font-variant-numeric:tabular-nums}
td:first-child,th:first-child{text-align:left}.note{color:#555}.skip{color:#8a4b00}
caption{caption-side:top;text-align:left;color:#555;padding:0.2em 0 0.4em 0;max-width:60em}
code{background:#f5f5f5;padding:0 3px}.wide{overflow-x:auto;max-width:100%}
"""


def _table_html(name: str, df: pd.DataFrame) -> str:
    """A table for people (tables.for_people) under a caption saying what it shows;
    a wide one scrolls inside its box instead of running off the page."""
    body = for_people(name, df).to_html(index=False, border=0, na_rep="–", escape=True)
    cap = (f"<caption>{html.escape(caption(name))} All digits: "
           f"<code>{FIGURES_DIR}/{html.escape(name)}.csv</code>.</caption>")
    body = body.replace('<table class="dataframe">', f'<table class="dataframe">\n{cap}', 1)
    return f'<div class="wide">{body}</div>'


def render_html(run: RunData, figures: list[FigureOut], images: dict[str, bytes],
                source_sha: str, warnings_seen: tuple[str, ...] = ()) -> str:
    t = run.trials
    facts = pd.DataFrame({
        "": ["run", "mode", "evaluations", "workloads", "seeds", "points", "policies",
             "results table sha256"],
        "value": [run.name, ", ".join(sorted(t["mode"].astype(str).unique())), str(len(t)),
                  ", ".join(dict.fromkeys(t["workload"].astype(str))),
                  ", ".join(str(int(s)) for s in sorted(t["seed"].unique())),
                  str(with_points(t)["point"].nunique()),
                  ", ".join(sorted(t["policy"].astype(str).unique())), source_sha[:16]],
    })
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>tiersweep report: {html.escape(run.name)}</title>",
             f"<style>{_CSS}</style></head><body>",
             f"<h1>tiersweep report: {html.escape(run.name)}</h1>",
             facts.to_html(index=False, border=0, header=False)]
    for note in run.notes:
        parts.append(f'<p class="note">Note: {html.escape(note)}</p>')
    drawn = [f for f in figures if not f.skipped]
    parts.append("<ul>" + "".join(
        f'<li><a href="#{f.key}">{html.escape(f.title)}</a></li>' for f in drawn) + "</ul>")
    for f in drawn:
        parts.append(f'<h2 id="{f.key}">{html.escape(f.title)}</h2>')
        b64 = base64.b64encode(images[f.key]).decode("ascii")
        parts.append(f'<p><img alt="{html.escape(f.title)}" src="data:image/png;base64,{b64}">'
                     f"</p>")
        parts.append(f'<p class="note">{html.escape(f.caption)} Vector version: '
                     f'<code>{FIGURES_DIR}/{f.key}.svg</code>.</p>')
        for name, tab in f.tables:
            parts.append(_table_html(name, tab))
    # Sections only for the data the run holds: what is missing, in one list.
    skipped = [f for f in figures if f.skipped]
    if skipped:
        parts.append('<h2 id="not-drawn">Not in this run</h2><ul class="skip">' + "".join(
            f"<li>{html.escape(f.title)}. Not drawn: {html.escape(f.skipped)}.</li>"
            for f in skipped) + "</ul>")
    for w in warnings_seen:
        parts.append(f'<p class="note">Warning: {html.escape(w)}</p>')
    parts.append('<p class="note">Made by <code>tiersweep report</code> from '
                 f"<code>{TRIALS}</code> (and the time series / Optuna study when "
                 "present). Rerun it to regenerate every figure.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# ------------------------------------------------------------------ entry


@dataclass
class ReportResult:
    html: Path
    figures: list[Path]
    skipped: dict[str, str]
    warnings: tuple[str, ...] = ()


def write_report(run_dir: str | Path, out_dir: str | Path | None = None,
                 study: str | Path | None = None, timeseries_eval: str | None = None,
                 progress: bool = True, extra_points: int | None = None) -> ReportResult:
    """Load `run_dir`, draw every figure, write PNG/SVG/CSV under ``figures/`` and
    ``report.html`` (in `out_dir`, default the run directory)."""
    run = load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else run.path
    study_obj = find_study(run, study)
    with warnings.catch_warnings(record=True) as caught:
        # Libraries' warnings (Optuna's importance evaluator on a small study,
        # matplotlib) become one line each in the report and on the terminal.
        warnings.simplefilter("always")
        figures = build_figures(run, study_obj, timeseries_eval, progress=progress,
                                extra_points=extra_points)
    seen = tuple(dict.fromkeys(one_line(w) for w in caught))
    fig_dir = out / FIGURES_DIR
    images: dict[str, bytes] = {}
    written: list[Path] = []
    for f in figures:
        if f.fig is None:
            continue
        png = figure_bytes(f.fig, "png")
        svg = figure_bytes(f.fig, "svg")
        images[f.key] = png
        for ext, data in (("png", png), ("svg", svg)):
            p = fig_dir / f"{f.key}.{ext}"
            atomic.write_bytes(p, data)
            written.append(p)
        for name, tab in f.tables:
            atomic.write_text(fig_dir / f"{name}.csv", tab.to_csv(index=False))
    sha = hashlib.sha256((run.path / TRIALS).read_bytes()).hexdigest()
    page = render_html(run, figures, images, sha, seen)
    atomic.write_text(out / REPORT, page)
    return ReportResult(html=out / REPORT, figures=written,
                        skipped={f.key: f.skipped for f in figures if f.skipped},
                        warnings=seen)


def one_line(w: warnings.WarningMessage) -> str:
    """A library warning as one line naming where it came from."""
    module = Path(w.filename).parts
    lib = next((p for p in ("optuna", "matplotlib", "seaborn", "pandas", "numpy")
                if p in module), "")
    text = " ".join(str(w.message).split())
    return f"{lib + ': ' if lib else ''}{text}"
