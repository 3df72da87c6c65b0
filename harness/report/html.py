"""`tiersweep report RUN_DIR`: figures (PNG + SVG), their tables (CSV) and one
self-contained ``report.html``, all computed from the results directory.

Same results directory -> same bytes: figures carry no dates, SVG ids use a
fixed salt, tables are sorted deterministically, the HTML has no timestamp.
Every file is written atomically (temporary file + ``os.replace``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import io
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.analysis import summary as S
from harness.errors import InputError

FIGURES_DIR = "figures"
REPORT = "report.html"
COMPARE_INFO = "compare.json"  # written by `tiersweep compare`: where the tuned knobs came from


@dataclass
class FigureOut:
    key: str
    title: str
    caption: str
    fig: object | None = None  # matplotlib Figure
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    skipped: str | None = None


# ------------------------------------------------------------------ writing


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:  # plain open: the umask sets the mode
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def figure_bytes(fig, fmt: str) -> bytes:
    """PNG or SVG bytes with no date or software stamp (reproducible)."""
    from harness.report.html import plots as plots

    buf = io.BytesIO()
    meta = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    with plots.style():
        fig.savefig(buf, format=fmt, metadata=meta)
    return buf.getvalue()


def _progress(items, desc: str):
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return items
    return tqdm(items, desc=desc, unit="fig", disable=None, file=sys.stderr, leave=False)


# ------------------------------------------------------------------ study


def find_study(run: S.RunData, explicit: str | Path | None = None):
    """The Optuna study behind a run: an explicit journal or run directory, the run's
    own journal, or the tuning run that `compare --tuned` named (compare.json)."""
    if explicit is not None:
        p = Path(explicit)
        if p.is_dir():
            sub = S.load_run(p)
            if sub.journal is None:
                raise InputError(f"{p}: no Optuna journal (*.journal) in this run directory")
            return S.load_study(sub.journal, S.study_name(sub.manifest))
        return S.load_study(p)
    if run.journal is not None:
        return S.load_study(run.journal, S.study_name(run.manifest))
    info = run.path / COMPARE_INFO
    if info.is_file():
        try:
            data = json.loads(info.read_text())
        except ValueError:
            raise InputError(f"{info}: not valid JSON; expected compare's record") from None
        tuned = data.get("tuned_from") if isinstance(data, dict) else None
        if tuned:
            tp = Path(tuned)
            tp = tp if tp.is_absolute() else (run.path / tp)
            if tp.is_dir():
                sub_manifest = S.read_manifest(tp / S.MANIFEST)
                journal = S.find_journal(tp, sub_manifest)
                if journal is not None:
                    return S.load_study(journal, S.study_name(sub_manifest))
    return None


# ------------------------------------------------------------------ figures


def _fmt_table(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].round(4)
    return out


def build_figures(run: S.RunData, study=None, timeseries_eval: str | None = None,
                  progress: bool = True) -> list[FigureOut]:
    """Every figure of the report with the tables behind it (nothing written)."""
    from harness.report.html import plots as P

    df = S.with_points(run.trials)
    suite = S.reference_suite(df)
    left_out = len(df) - len(S.in_suite(df, suite))
    note = (f"{left_out} evaluation(s) on seeds outside the suite every mode ran (e.g. a "
            f"study's holdout seeds) are left out of figures 1-3 (see tiersweep defaults)")
    if left_out and note not in run.notes:
        run.notes.append(note)
    pts = S.points_table(df)
    series = S.highlighted_points(pts)
    ranked = S.rank_points(pts)["point"].tolist()
    colors = P.series_colors([s for s in ranked if s in series])
    out: list[FigureOut] = []
    steps = ["policies", "pareto", "sensitivity", "timeseries", "study"]
    for step in _progress(steps, "figures") if progress else steps:
        if step == "policies":
            f = FigureOut("1-policies", "1. Policies across workloads",
                          "Fast-tier hit rate and CPU cost of each policy on each workload of "
                          "the suite: bars are means over seeds, lines one sample standard "
                          "deviation, dots single seeds.")
            f.fig = P.plot_policy_comparison(df, series, colors)
            f.tables.append(("policies", S.comparison_table(df, series)))
        elif step == "pareto":
            f = FigureOut("2-pareto", "2. Hit rate against cost",
                          "Each complete point (configuration evaluated on every workload and "
                          "seed) at its mean hit rate and mean cost. The front joins the points "
                          "no other contender beats on both; the oracle (free migrations) is an "
                          "upper bound, not a contender.")
            par = S.pareto_table(pts)
            if par.empty:
                f.skipped = "no point was evaluated on every workload and seed"
            else:
                f.fig = P.plot_pareto(par, series, colors)
                shown = par[par["on_front"] | par["point"].isin(series)]
                cols = ["point", "policy", "hit_rate_pct", "cost_cpu_s", "objective",
                        "on_front", "contender"]
                f.tables.append(("pareto", shown[cols].reset_index(drop=True)))
        elif step == "sensitivity":
            f = FigureOut("3-sensitivity", "3. Sensitivity to pairs of knobs",
                          "Mean objective of grid points over each pair of swept knobs "
                          "(mean over workloads, seeds and any other swept knob).")
            maps = S.heatmap_tables(df)
            if not maps:
                f.skipped = ("no grid over two or more kmmscand knobs in this run (run a sweep "
                             "with a grid:, or add one to the compare experiment)")
            else:
                f.fig = P.plot_heatmaps(maps)
                for m in maps:
                    t = m.pivot.copy()
                    t.index = [f"{S.knob_label(m.y)} = {S._fmt_value(v)}" for v in t.index]
                    t.columns = [f"{S.knob_label(m.x)} = {S._fmt_value(v)}" for v in t.columns]
                    f.tables.append((f"sensitivity-{S.knob_name(m.y)}-{S.knob_name(m.x)}",
                                     t.reset_index(names="mean objective")))
        elif step == "timeseries":
            f = FigureOut("4-timeseries", "4. One run over time",
                          "One evaluation sampled over simulated time; the first panel adds "
                          "the other highlighted series on the same workload and seed.")
            _timeseries_figure(f, run, df, series, colors, timeseries_eval)
        else:
            f = FigureOut("5-study", "5. Optimization history and parameter importances",
                          "Every completed trial's value (the study's objective aggregated "
                          "over the suite) and the best so far; importances from Optuna's "
                          "evaluator (fANOVA on small studies when scikit-learn is installed, "
                          "PED-ANOVA otherwise).")
            if study is None:
                f.skipped = "no Optuna study in this run (tune runs keep a journal file)"
            else:
                st = S.study_tables(study)
                if st.n_complete == 0:
                    f.skipped = f"study {st.name} has no completed trial"
                else:
                    f.fig = P.plot_study(st, colors.get("tuned"))
                    best = st.history[st.history["value"] == st.history["best_so_far"]]
                    improving = best.drop_duplicates("best_so_far")
                    f.tables.append(("study-history", improving.reset_index(drop=True)))
                    f.tables.append(("study-importances", st.importances))
                    f.caption += f" Evaluator used: {st.evaluator}."
        out.append(f)
    return out


def _timeseries_figure(f: FigureOut, run: S.RunData, df: pd.DataFrame, series: list[str],
                       colors: dict, eval_id: str | None) -> None:
    from harness.report.html import plots as P

    ts = run.timeseries
    if ts is None:
        f.skipped = f"no {S.TIMESERIES} in this run"
        return
    if eval_id is None:
        eval_id = S.pick_timeseries_eval(df, ts, series)
        if eval_id is None:
            f.skipped = f"{S.TIMESERIES} has no samples for any evaluation of the table"
            return
    elif eval_id not in set(df["eval_id"]):
        raise InputError(f"{run.path / S.TRIALS}: no evaluation with eval_id {eval_id!r}")
    row = df[df["eval_id"] == eval_id].iloc[0]
    same = df[(df["workload"] == row["workload"]) & (df["seed"] == row["seed"])
              & (df["point"].isin(series) | (df["eval_id"] == eval_id))]
    f.caption = ("One evaluation sampled over simulated time; the first panel adds the "
                 "baselines and the other named series on the same workload and seed.")
    have = set(ts["eval_id"].unique())
    frames = {row["point"]: S.timeseries_frame(ts, eval_id)}
    # Context in the hit-rate panel: the baselines and the other named series only.
    for p in [s for s in series if s != row["point"] and s in S.NAMED_LABELS]:
        r = same[(same["point"] == p) & same["eval_id"].isin(have)]
        if len(r):
            frames[p] = S.timeseries_frame(ts, str(r["eval_id"].iloc[0]))
    cols = dict(colors)
    cols.setdefault(row["point"], P.BACKGROUND_COLOR)
    title = f"{row['point']} on {row['workload']}, seed {int(row['seed'])} (eval {eval_id})"
    f.fig = P.plot_timeseries(row["point"], frames, title, cols)
    f.tables.append(("timeseries", S.timeseries_summary(frames)))
    f.caption += (" Hit rate and promotions are per sampling interval; queue length, "
                  "scan_period and scan_size are read at each sample (mean over the "
                  "processes' slots).")


# ------------------------------------------------------------------ html

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#222;line-height:1.4;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
img{max-width:100%;height:auto;border:1px solid #eee}
table{border-collapse:collapse;font-size:0.8em;margin:0.6em 0 1.2em 0}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}.note{color:#555}.skip{color:#8a4b00}
code{background:#f5f5f5;padding:0 3px}
"""


def _table_html(name: str, df: pd.DataFrame) -> str:
    body = _fmt_table(df).to_html(index=False, border=0, na_rep="-", escape=True)
    return f'<p class="note">Table <code>{html.escape(name)}.csv</code></p>\n{body}'


def render_html(run: S.RunData, figures: list[FigureOut], images: dict[str, bytes],
                source_sha: str) -> str:
    t = run.trials
    facts = pd.DataFrame({
        "": ["run", "mode", "evaluations", "workloads", "seeds", "points", "policies",
             "results table sha256"],
        "value": [run.name, ", ".join(sorted(t["mode"].astype(str).unique())), str(len(t)),
                  ", ".join(dict.fromkeys(t["workload"].astype(str))),
                  ", ".join(str(int(s)) for s in sorted(t["seed"].unique())),
                  str(S.with_points(t)["point"].nunique()),
                  ", ".join(sorted(t["policy"].astype(str).unique())), source_sha[:16]],
    })
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>tiersweep report: {html.escape(run.name)}</title>",
             f"<style>{_CSS}</style></head><body>",
             f"<h1>tiersweep report: {html.escape(run.name)}</h1>",
             facts.to_html(index=False, border=0, header=False)]
    for note in run.notes:
        parts.append(f'<p class="note">Note: {html.escape(note)}</p>')
    parts.append("<ul>" + "".join(
        f'<li><a href="#{f.key}">{html.escape(f.title)}</a>'
        f'{" (not drawn)" if f.skipped else ""}</li>' for f in figures) + "</ul>")
    for f in figures:
        parts.append(f'<h2 id="{f.key}">{html.escape(f.title)}</h2>')
        if f.skipped:
            parts.append(f'<p class="skip">Not drawn: {html.escape(f.skipped)}.</p>')
            continue
        b64 = base64.b64encode(images[f.key]).decode("ascii")
        parts.append(f'<p><img alt="{html.escape(f.title)}" src="data:image/png;base64,{b64}">'
                     f"</p>")
        parts.append(f'<p class="note">{html.escape(f.caption)} Vector version: '
                     f'<code>{FIGURES_DIR}/{f.key}.svg</code>.</p>')
        for name, tab in f.tables:
            parts.append(_table_html(name, tab))
    parts.append('<p class="note">Made by <code>tiersweep report</code> from '
                 f"<code>{S.TRIALS}</code> (and the time series / Optuna study when "
                 "present). Rerun it to regenerate every figure.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# ------------------------------------------------------------------ entry


@dataclass
class ReportResult:
    html: Path
    figures: list[Path]
    skipped: dict[str, str]


def write_report(run_dir: str | Path, out_dir: str | Path | None = None,
                 study: str | Path | None = None, timeseries_eval: str | None = None,
                 progress: bool = True) -> ReportResult:
    """Load `run_dir`, draw every figure, write PNG/SVG/CSV under ``figures/`` and
    ``report.html`` (in `out_dir`, default the run directory)."""
    run = S.load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else run.path
    study_obj = find_study(run, study)
    figures = build_figures(run, study_obj, timeseries_eval, progress=progress)
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
            atomic_write(p, data)
            written.append(p)
        for name, tab in f.tables:
            atomic_write(fig_dir / f"{name}.csv", tab.to_csv(index=False).encode())
    sha = hashlib.sha256((run.path / S.TRIALS).read_bytes()).hexdigest()
    page = render_html(run, figures, images, sha)
    atomic_write(out / REPORT, page.encode())
    return ReportResult(html=out / REPORT, figures=written,
                        skipped={f.key: f.skipped for f in figures if f.skipped})
