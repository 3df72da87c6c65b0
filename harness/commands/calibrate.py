"""`tiersweep calibrate` and `tiersweep validate`: the runtime model against the RFC."""

from __future__ import annotations

import json
from pathlib import Path

from harness.tools import calibrate as cal
from harness.tools import validate as val


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="fit the runtime model's physical constants to the "
                       "RFC's 8 GB Abench figures, each inside its plausible range; write "
                       "them to OUT/calibrated.yaml and print the diff that applies them")
    p.add_argument("--dir", type=Path, default=cal.ABENCH_DIR,
                   help="folder of the Abench configs (default: configs/abench)")
    p.add_argument("--out", type=Path, default=cal.OUT_DIR,
                   help="folder the fit is written to (default: results/calibration)")
    p.add_argument("--rounds", type=int, default=2, help="fit rounds (2)")
    p.set_defaults(func=run_calibrate)
    v = sub.add_parser("validate", help="predict Abench times at 8-64 GB with the "
                       "calibrated constants: growth per doubling, each overhead's share, "
                       "the migration list at 8 GB")
    v.add_argument("--dir", type=Path, default=cal.ABENCH_DIR)
    v.add_argument("--sizes", default="8,16,32,64", help="sizes in GB (8,16,32,64)")
    v.add_argument("--json", action="store_true", help="print a JSON list")
    v.set_defaults(func=run_validate)


def _print_rows(rows: list[dict]) -> None:
    eight = [r for r in rows if r["size_gb"] == 8]
    if eight:
        print("\noverheads at 8 GB (s), the RFC's categories:")
        for r in eight:
            if r["overheads"]:
                print(f"  {r['policy']:12s} {val.format_overheads(r)}")
    lists = [r for r in eight if "migadded" in r]
    if lists:
        print("\nmigration list at 8 GB:")
        print(val.LIST_HEADER)
        for r in lists:
            print(val.format_list(r))


def run_calibrate(args) -> int:
    const = cal.calibrate(args.dir, rounds=args.rounds)
    path, diff = cal.write_constants(const, args.out, args.dir)
    print(f"wrote {path}\n")
    table = cal.constants_table(const, args.dir)
    print(cal.format_constants(table))
    edges = [r for r in table if r["edge"]]
    print("\nat an edge of its range: " + (", ".join(
        f"{r['name']} ({r['edge']})" for r in edges) if edges else "none") + "\n")
    print(val.HEADER)
    rows = val.predict(sizes=(8,), directory=args.dir, constants=const,
                       progress=lambda r: print(val.format_row(r), flush=True))
    _print_rows(rows)
    target = args.dir / cal.CALIBRATED
    if diff:
        print(f"\nto apply the fit to {target} (`git apply` it from this directory, or copy {path} there):\n")
        print(diff, end="")
    else:
        print(f"\n{target} already holds these constants")
    return 0


def run_validate(args) -> int:
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.json:
        print(json.dumps(val.predict(sizes=sizes, directory=args.dir)))
        return 0
    print(val.HEADER)
    rows = val.predict(sizes=sizes, directory=args.dir,
                       progress=lambda r: print(val.format_row(r), flush=True))
    _print_rows(rows)
    return 0
