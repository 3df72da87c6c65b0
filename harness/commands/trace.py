"""`tiersweep trace inspect FILE` and `tiersweep trace record -- CMD ...`."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub) -> None:
    p = sub.add_parser("trace", help="inspect or record memory-access traces")
    tsub = p.add_subparsers(dest="trace_command", required=True, metavar="ACTION")

    i = tsub.add_parser("inspect", help="footprint, accesses and skew of a trace; heatmap",
                        description="Convert a trace (or take it from the cache) and print its "
                                    "footprint, pages, accesses and skew.")
    i.add_argument("file", help="trace file (lackey, columnar parquet/CSV, DAMON JSON)")
    _reader_flags(i)
    i.add_argument("--no-cache", action="store_true", help="convert again, bypass the cache")
    i.add_argument("--json", action="store_true", help="print one JSON object")
    i.add_argument("--heatmap", metavar="PNG", help="draw accesses over time and pages to PNG")
    i.set_defaults(func=run_inspect)

    c = tsub.add_parser("convert", help="convert a trace to a compact columnar parquet trace",
                        description="Read a trace (lackey, columnar, DAMON) into page counts per "
                                    "window and write them as a columnar parquet trace (time_ms, "
                                    "pid, page, count): small enough to commit or share.")
    c.add_argument("file", help="trace file to read")
    c.add_argument("out", help="parquet file to write")
    _reader_flags(c)
    c.set_defaults(func=run_convert)

    r = tsub.add_parser("record", help="run a command under valgrind lackey, write its trace",
                        description="Run CMD under valgrind --tool=lackey --trace-mem=yes and "
                                    "write the trace (gzip when OUT ends in .gz).")
    r.add_argument("--out", help="trace file to write (default: <command>.lackey.gz)")
    r.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ...",
                   help="the command and its arguments, after --")
    r.set_defaults(func=run_record)


def _reader_flags(p) -> None:
    p.add_argument("--format", default="auto", choices=["auto", "lackey", "columnar", "damon"],
                   help="trace format (default: from the name and first bytes)")
    p.add_argument("--window-ms", type=int, default=1000, help="window length in ms (1000)")
    p.add_argument("--instructions-per-s", type=float, default=1.0e9,
                   help="lackey: instructions per second of trace time (1e9)")
    p.add_argument("--page-kb", type=int, default=4, choices=[4, 8, 16, 64],
                   help="page size in KiB (4)")
    p.add_argument("--skip-bad-lines", action="store_true",
                   help="skip and count malformed lines instead of failing")


def _reader_options(args, command: str):
    import math

    from harness.errors import ConfigError
    from harness.traces import ReaderOptions

    ips = args.instructions_per_s
    if args.window_ms < 1 or not (math.isfinite(ips) and ips > 0):
        raise ConfigError(f"trace {command}: expected --window-ms >= 1 and a finite "
                          "--instructions-per-s > 0")
    return ReaderOptions(page_bytes=args.page_kb * 1024, window_ms=args.window_ms,
                         instructions_per_s=ips, skip_bad_lines=args.skip_bad_lines)


def run_convert(args) -> int:
    from harness.traces import load_trace
    from harness.traces.columnar import write_columnar
    from harness.traces.inspect import format_summary, summarize

    tc = load_trace(args.file, args.format, _reader_options(args, "convert"), use_cache=False,
                    verbose=False)
    rows = write_columnar(tc, args.out)
    print(f"tiersweep: wrote {args.out}: {rows} rows", file=sys.stderr)
    print(format_summary(summarize(tc)))
    return 0


def run_inspect(args) -> int:
    from harness.traces import load_trace
    from harness.traces.inspect import format_summary, heatmap, summarize

    opts = _reader_options(args, "inspect")
    tc = load_trace(args.file, args.format, opts, use_cache=not args.no_cache,
                    verbose=not args.json)
    summary = summarize(tc)
    if args.heatmap:
        summary["heatmap"] = heatmap(tc, args.heatmap)
    if args.json:
        print(json.dumps(summary))
    else:
        print(format_summary(summary))
        if args.heatmap:
            print(f"  heatmap     {args.heatmap}")
    return 0


def run_record(args) -> int:
    from pathlib import Path

    from harness.traces.record import record

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    out = args.out or (f"{Path(cmd[0]).name}.lackey.gz" if cmd else "trace.lackey.gz")
    res = record(cmd, out)
    print(f"tiersweep: wrote {res['out']}: {res['lines']} lines, "
          f"{res['bytes_written'] / 2**20:.2f} MiB in {res['seconds']:.1f} s", file=sys.stderr)
    if res["exit_code"] != 0:
        print(f"tiersweep: warning: the command exited with status {res['exit_code']} "
              "(trace kept)", file=sys.stderr)
        return 1
    return 0
