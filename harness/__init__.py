"""tiersweep: simulate and tune Linux memory-tiering page promotion.

The Python API (harness.api) is exported lazily, so importing a submodule (a
Ray worker imports the model) does not load Ray, Optuna or pandas:

    from harness import Results, load_experiment, simulate, sweep, tune, compare
"""

__version__ = "0.1.0"

_API = ("Experiment", "Results", "RunConfig", "RunResult", "compare", "load_config",
        "load_experiment", "simulate", "sweep", "tune")


def __getattr__(name: str):
    if name in _API:
        from harness import api

        return getattr(api, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
