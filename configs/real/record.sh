#!/bin/sh
# Record the real-program suite: four unmodified Debian programs under
# valgrind lackey (`tiersweep trace record`), each converted to a columnar
# page-count trace (`tiersweep trace convert`) committed next to this script.
#
#   sh configs/real/record.sh            # about 9 minutes on 2 cores
#
# Needs valgrind, xz-utils, sqlite3, coreutils and python3 (Debian packages).
# The inputs are generated here from a fixed seed. The raw lackey traces
# (~2-3 GB each) go to a temporary directory and are deleted afterwards.
#
# Time: each program runs 99-152 M instructions. At a real ~1e9 instructions
# per second that is 0.1-0.2 s, too short for a scanner that wakes every few
# seconds, so the traces are converted at 3e6 instructions per second (about
# 330x slower than the machine): 33-51 s of trace time in 500 ms windows.
# Which pages a program touches together, and how often relative to each
# other, are the program's own; the absolute rate per second is not.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
TIERSWEEP=${TIERSWEEP:-tiersweep}
IPS=3000000
WINDOW_MS=500
for tool in valgrind xz sqlite3 sort python3; do
  command -v "$tool" >/dev/null || { echo "record.sh: $tool is not installed" >&2; exit 2; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

python3 - <<'PY'
import random
rnd = random.Random(20261201)
words = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(3, 9)))
         for _ in range(5000)]
with open("text.txt", "w") as f:  # 400 kB of word soup for the compressor
    while f.tell() < 400_000:
        f.write(" ".join(rnd.choice(words) for _ in range(8)) + "\n")
with open("lines.txt", "w") as f:  # 35 k records for sort
    for _ in range(35_000):
        f.write(f"{rnd.randint(0, 10**9):09d} {rnd.choice(words)} {rnd.choice(words)}\n")
PY
cat > query.sql <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 12000)
INSERT INTO t SELECT x, (x * 7919) % 1000, printf('%032x', x * 2654435761) FROM c;
CREATE INDEX tk ON t(k);
SELECT k, count(*), max(v) FROM t GROUP BY k ORDER BY 2 DESC, 1 LIMIT 3;
SELECT count(*) FROM t a JOIN t b ON a.k = b.k WHERE a.id < 300;
SQL
cat > interp.py <<'PY'
d = {}
for i in range(12000):
    d[f"key{i * 7919 % 100003}"] = [i, str(i)]
s = 0
for r in range(2):
    for i in range(12000):
        s += d.get(f"key{i * 31 % 100003}", [0])[0]
print(s)
PY

record() {  # name, command...
  name=$1; shift
  echo "== $name: $*" >&2
  "$TIERSWEEP" trace record --out "$work/$name.lackey" -- "$@" > /dev/null
  "$TIERSWEEP" trace convert "$work/$name.lackey" "$here/$name.parquet" \
    --instructions-per-s "$IPS" --window-ms "$WINDOW_MS"
  rm -f "$work/$name.lackey"
}
record xz-compress xz -3 -T1 -c text.txt
record sqlite-query sqlite3 :memory: -init query.sql .quit
record sort-records sort -S 32M lines.txt
py=/usr/bin/python3; [ -x "$py" ] || py=$(command -v python3)  # a binary, not a pyenv shim
record python-dict "$py" -S interp.py

for t in "$here"/*.parquet; do
  "$TIERSWEEP" trace inspect "$t" --window-ms "$WINDOW_MS"
done
