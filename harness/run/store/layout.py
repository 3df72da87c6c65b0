"""The file names of a run directory: the one owner (readers import them from here).

Layout of ``results/<name>/`` (or another run directory)::

    trials.parquet        one row per evaluation (consolidated; schema: harness.run.worker)
    timeseries.parquet    the time series of every evaluation, long form
    parts/                batches appended as results arrive (trials-*.parquet, ts-*.parquet)
    manifest.json         resolved config, seeds, package versions, git revision, commands
    .lock                 one driver per directory (an flock)
    study.journal         the Optuna journal storage (tune, unless another storage is given)
    study_trials.parquet  Optuna's view of the study's trials (tune)
    summary.json          best trial(s) and the default-versus-tuned comparison (tune)
    compare.json          where a comparison's tuned knobs came from (compare --tuned)
    defaults.yaml, defaults.sh   the recommended knobs (defaults)
    report.html, figures/        the report (report)
"""

from __future__ import annotations

from pathlib import Path

TRIALS = "trials.parquet"
TIMESERIES = "timeseries.parquet"
PARTS = "parts"
MANIFEST = "manifest.json"
# Where a run goes without --out: results/<experiment name>/ (relative to the cwd).
RESULTS_ROOT = "results"


def default_run_dir(name: str) -> Path:
    return Path(RESULTS_ROOT) / name


LOCK = ".lock"
STORE_LOCK = ".store.lock"  # merges and manifest updates, one driver at a time
JOURNAL = "study.journal"
JOURNAL_GLOB = "*.journal"  # a journal named otherwise (an explicit path in the directory)
STUDY_TRIALS = "study_trials.parquet"
SUMMARY = "summary.json"
COMPARE_INFO = "compare.json"
DEFAULTS_YAML = "defaults.yaml"
DEFAULTS_SH = "defaults.sh"
REPORT = "report.html"
FIGURES_DIR = "figures"

# What a run creates or writes in its directory (none may be a symlink).
RUN_FILES = (TRIALS, TIMESERIES, PARTS, MANIFEST, LOCK, STORE_LOCK, JOURNAL, STUDY_TRIALS, SUMMARY,
             COMPARE_INFO, DEFAULTS_YAML, DEFAULTS_SH, REPORT, FIGURES_DIR)

# The remedy when a run directory is taken (locked, or holds another experiment);
# the command layer names its flag for it.
ANOTHER_RUN_DIR = "use another run directory"

# Part files: parts/<kind>-<stamp>.parquet; stamps sort in write order.
TRIALS_PART = "trials"
TS_PART = "ts"


def part_path(run_dir: Path, kind: str, stamp: str) -> Path:
    return Path(run_dir) / PARTS / f"{kind}-{stamp}.parquet"


def part_files(run_dir: Path, kind: str) -> list[Path]:
    """The part files of one kind (TRIALS_PART or TS_PART), oldest first."""
    return sorted((Path(run_dir) / PARTS).glob(f"{kind}-*.parquet"))
