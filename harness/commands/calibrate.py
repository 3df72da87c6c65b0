"""`tiersweep calibrate` and `tiersweep validate`: the runtime model against the RFC."""

from __future__ import annotations

import json
from pathlib import Path

from harness.tools import calibrate as cal


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="fit the runtime model's free constants to the "
                       "RFC's 8 GB Abench figures and write them to a config")
    p.add_argument("--dir", type=Path, default=cal.ABENCH_DIR,
                   help="folder of the Abench configs (default: configs/abench)")
    p.add_argument("--rounds", type=int, default=2, help="fit rounds (2)")
    p.set_defaults(func=run_calibrate)
    v = sub.add_parser("validate", help="predict Abench times at 8-64 GB with the "
                       "calibrated constants, beside the published figures")
    v.add_argument("--dir", type=Path, default=cal.ABENCH_DIR)
    v.add_argument("--sizes", default="8,16,32,64", help="sizes in GB (8,16,32,64)")
    v.add_argument("--json", action="store_true", help="print a JSON list")
    v.set_defaults(func=run_validate)


def run_calibrate(args) -> int:
    const = cal.calibrate(args.dir, rounds=args.rounds)
    path = cal.write_constants(const, args.dir)
    print(f"wrote {path}")
    print(cal.HEADER)
    cal.predict(sizes=(8,), directory=args.dir, progress=print)
    return 0


def run_validate(args) -> int:
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.json:
        print(json.dumps(cal.predict(sizes=sizes, directory=args.dir)))
        return 0
    print(cal.HEADER)
    cal.predict(sizes=sizes, directory=args.dir, progress=lambda s: print(s, flush=True))
    return 0
