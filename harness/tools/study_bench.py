"""How far one study driver scales (`tiersweep bench-study`): the ask/tell
throughput of Optuna storages with one and two drivers, and how many workers
one driver can keep busy.

* Throughput: each driver process asks a trial, suggests the shipped suite's
  search space (TPE, as `tune` does), and tells a value, `trials` times; the
  figure is trials per second over all drivers, for a journal file and for each
  database URL given.
* Workers one driver keeps busy: the driver's own time per evaluation (its
  share of a trial's ask and tell, plus making and storing the evaluation's
  row) against the simulation's time: workers = sim seconds / driver seconds
  per evaluation. A driver with more workers than that leaves them idle: add
  drivers (a database storage) instead.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path

from harness.experiment import load_experiment

SUITE = Path(__file__).resolve().parents[2] / "configs" / "suite.yaml"


def _driver(url: str, name: str, trials: int, barrier, out) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    exp = load_experiment(SUITE)
    space = exp.study.space
    if "://" in url:
        storage = optuna.storages.get_storage(url)
    else:
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        storage = JournalStorage(JournalFileBackend(url))
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=os.getpid()),
                                load_if_exists=True)
    defaults = exp.default_values([k for p in space for k, _ in p.when])  # as the driver
    barrier.wait()
    t0 = time.perf_counter()
    for _ in range(trials):
        trial = study.ask()
        params = {}
        for p in space:
            if p.active({**defaults, **params}):
                params[p.key] = p.suggest(trial)
        study.tell(trial, sum(hash(str(v)) % 97 for v in params.values()) / 97.0)
    out.put(time.perf_counter() - t0)


def ask_tell_rate(url: str, drivers: int, trials: int) -> float:
    """Trials per second over `drivers` processes on one study at `url`."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(drivers), ctx.Queue()
    name = f"bench-{os.getpid()}-{time.time_ns()}"
    if "://" in url:  # create the schema once, before the drivers race to
        import optuna

        optuna.storages.get_storage(url)
    procs = [ctx.Process(target=_driver, args=(url, name, trials, barrier, out))
             for _ in range(drivers)]
    for p in procs:
        p.start()
    times = [out.get(timeout=900) for _ in procs]
    for p in procs:
        p.join()
    return drivers * trials / max(times)


def driver_seconds_per_eval(rows: int = 2000) -> float:
    """The driver's own work per evaluation besides Optuna: make the row and
    its time series from a worker's output and store it (the part files)."""
    from harness.model import simulate
    from harness.run.store import ResultStore
    from harness.run.worker import Evaluation, make_row, timeseries_long

    exp = load_experiment(SUITE, ["duration_s=4", "workload.size_gb=0.125"])
    cfg = exp.run_config(exp.workloads[0], 1)
    res = simulate(cfg)
    out = {"ok": True, "metrics": res.metrics, "ts": timeseries_long(res.timeseries),
           "worker": "w", "node": "", "eval_wall_s": 0.2, "finished_at": time.time()}
    with tempfile.TemporaryDirectory() as d:
        store = ResultStore(d)
        t0 = time.perf_counter()
        for i in range(rows):
            ev = Evaluation(eval_id=f"e{i}", cfg=cfg, run="b", mode="tune", trial=i,
                            label="t", workload="zipf", seed=1, params={})
            row, ts = make_row(ev, out)
            store.add(row, ts)
            store.maybe_flush()
        store.consolidate()
        return (time.perf_counter() - t0) / rows


def run(urls: list[str], trials: int, echo) -> None:
    exp = load_experiment(SUITE)
    per_trial = len(exp.workloads) * len(exp.seeds)
    rates = {}
    with tempfile.TemporaryDirectory() as d:
        for label, url in [("journal file", str(Path(d) / "bench.journal")),
                           *[(u.split("://")[0], u) for u in urls]]:
            for n in (1, 2):
                rates[label, n] = ask_tell_rate(url, n, trials)
                echo(f"  {label:<14} {n} driver{'s' if n > 1 else ' '}: "
                     f"{rates[label, n]:7.1f} trials/s")
    row_s = driver_seconds_per_eval()
    echo(f"  driver work per evaluation besides Optuna (row + part files): "
         f"{1e3 * row_s:.2f} ms")
    echo(f"workers one driver keeps busy ({per_trial} evaluations per trial of the shipped "
         "suite; a trial's ask and tell shared by its evaluations):")
    for label, n in [k for k in rates if k[1] == 1]:
        per_eval = 1.0 / rates[label, n] / per_trial + row_s
        cells = ", ".join(f"{sim:g} s simulations: {sim / per_eval:,.0f}" for sim in (0.2, 2.0))
        echo(f"  {label:<14} {1e3 * per_eval:.2f} ms per evaluation -> {cells}")
