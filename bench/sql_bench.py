"""The SQL query benchmark (issue 4): the marketing query set of bench/sql/*.sql on the demo
mesh, Tessera (`tessera sql`) against DuckDB reading the same Parquet files, in one run.

    python sql_bench.py --tessera BIN --mesh DEMO_DIR --results DIR
                        [--reps N] [--threads N] [--scale S] [--queries a,b] [--no-explain]

For each query, in turn: one warm-up run of each engine, then N timed runs of each,
alternating (T D T D …) so that both see the same machine (page cache, other load).

- Tessera: `tessera sql --mesh DIR --timing --format arrow -f bench/sql/<query>.sql`, a process per run.
  The time compared is the `total` of its `--timing` line (planning + execution, measured
  inside the binary: it includes opening the Delta tables' snapshots and writing the
  result to stdout, and excludes process start-up and loading the mesh). The wall time of
  the whole process and its peak RSS (/usr/bin/time) are reported beside it.
- DuckDB (Python, in-process): a fresh connection per query with `SET threads=N` and one
  view per table, `CREATE VIEW web.events AS SELECT * FROM read_parquet([...])` over
  exactly the Parquet files of the Delta version Tessera reads (delta-rs' `file_uris()`;
  the harness checks that the versions agree). The time is
  `con.execute(query).to_arrow_table()`; connecting and creating the views are not timed.

Both engines are held to the same N cores: when the machine has more, this process (and so
the tessera processes it starts) is pinned to the first N with sched_setaffinity, which
DataFusion's default parallelism follows.

Every result is compared: the rows of both engines, normalised (timestamps as UTC
instants, integral decimals as integers, floats to 9 significant digits), in the order the
query returns them; any difference is reported as a MISMATCH and makes the exit code 1.

Writes to DIR: sql-report.txt (the table), sql-results.json (every run, every result's
checksum), sql-<query>-{tessera,duckdb}.csv (the first result) and, unless
--no-explain, sql-<query>-explain-{tessera,duckdb}.txt: `tessera explain --analyze` and
DuckDB's `EXPLAIN ANALYZE` of one more run each.
"""

import argparse
import decimal
import hashlib
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from deltalake import DeltaTable

HERE = Path(__file__).resolve().parent
QUERIES = HERE / "sql"
MEDIAN_TARGET = 1.0  # median ratio tessera / duckdb at most 1.0
WORST_TARGET = 1.5  # and no query worse than 1.5x
TIMING = re.compile(
    r"timing: planning ([0-9.]+)s, execution ([0-9.]+)s, total ([0-9.]+)s, (\d+) rows; read (.*)"
)
TABLE = re.compile(r"\b([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)\b")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_queries(only: list[str] | None) -> list[tuple[str, Path, str]]:
    """(name, path, sql) of every bench/sql/*.sql, in file-name order; `only` picks by name or
    by number (`6`, `6_first_touch`, `first_touch`)."""
    found = []
    for path in sorted(QUERIES.glob("*.sql")):
        name = path.stem
        if only and not any(o in (name, name.split("_", 1)[0], name.split("_", 1)[-1]) for o in only):
            continue
        found.append((name, path, path.read_text()))
    if not found:
        sys.exit(f"sql_bench: no queries in {QUERIES}" + (f" named {only}" if only else ""))
    return found


def port_dirs(mesh: Path) -> dict[str, Path]:
    """`<domain>.<port>` → the Delta table folder `<storage>/<domain>/<product>/<port>`."""
    root = mesh / ".tessera" / "data"
    out = {}
    for log_dir in root.glob("*/*/*/_delta_log"):
        table = log_dir.parent
        domain, port = table.parent.parent.name, table.name
        if not domain.startswith("_"):
            out[f"{domain}.{port}"] = table
    return out


def tables_of(sql: str, ports: dict[str, Path]) -> list[str]:
    body = "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
    return sorted({f"{a}.{b}" for a, b in TABLE.findall(body.lower()) if f"{a}.{b}" in ports})


def normalise(value):
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return float(f"{value:.9g}")
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    return str(value) if not isinstance(value, str) else value


def rows_of(table: pa.Table) -> list[list]:
    return [[normalise(v) for v in row.values()] for row in table.to_pylist()]


def checksum(rows: list[list]) -> str:
    return hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()[:12]


def compare(t_rows: list[list], d_rows: list[list]) -> str:
    """'same', or what differs."""
    if t_rows == d_rows:
        return "same"
    if len(t_rows) != len(d_rows):
        return f"MISMATCH: {len(t_rows)} rows from tessera, {len(d_rows)} from duckdb"
    key = lambda r: json.dumps(r, default=str)  # noqa: E731
    if sorted(t_rows, key=key) == sorted(d_rows, key=key):
        return "MISMATCH: the same rows in a different order"
    diff = next(i for i, (a, b) in enumerate(zip(t_rows, d_rows)) if a != b)
    return f"MISMATCH: row {diff + 1}: tessera {t_rows[diff]} vs duckdb {d_rows[diff]}"


def run_tessera(tessera: str, mesh: Path, sql_file: Path) -> dict:
    """One `tessera sql --timing --format arrow` process: its own timing, the wall time
    around the process, its peak RSS, and the result."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        cmd = ["/usr/bin/time", "-f", "%M", "-o", tf.name]
        cmd += [tessera, "sql", "--mesh", str(mesh), "--timing", "--format", "arrow", "-f", str(sql_file)]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, env={**os.environ, "NO_COLOR": "1"})
        wall = time.perf_counter() - t0
        rss = tf.read().strip().splitlines()
    stderr = p.stderr.decode(errors="replace")
    m = TIMING.search(stderr)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"tessera sql failed (exit {p.returncode}):\n{stderr[-3000:]}")
    table = ipc.open_stream(p.stdout).read_all()
    return {
        "s": float(m.group(3)),
        "planning_s": float(m.group(1)),
        "execution_s": float(m.group(2)),
        "wall_s": round(wall, 3),
        "max_rss_mib": round(int(rss[-1]) / 1024, 1) if rss and rss[-1].isdigit() else None,
        "rows": int(m.group(4)),
        "read": m.group(5).strip(),
        "table": table,
    }


class Duck:
    """A fresh DuckDB connection with a view per table over the snapshot's Parquet files."""

    def __init__(self, files: dict[str, list[str]], threads: int):
        self.con = duckdb.connect()
        self.con.execute(f"SET threads = {threads}")
        self.con.execute("SET TimeZone = 'UTC'")
        for name, paths in files.items():
            schema, table = name.split(".")
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            listed = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
            self.con.execute(f"CREATE VIEW {schema}.{table} AS SELECT * FROM read_parquet([{listed}])")

    def run(self, sql: str) -> dict:
        t0 = time.perf_counter()
        table = self.con.execute(sql).to_arrow_table()
        s = time.perf_counter() - t0
        return {"s": round(s, 4), "rows": table.num_rows, "table": table}

    def explain(self, sql: str) -> str:
        rows = self.con.execute("EXPLAIN ANALYZE " + sql).fetchall()
        return "\n".join(str(r[-1]) for r in rows)


def strip(run: dict) -> dict:
    return {k: v for k, v in run.items() if k != "table"}


def summary(runs: list[dict], key: str = "s") -> dict:
    xs = [r[key] for r in runs]
    return {"median": round(statistics.median(xs), 4), "min": round(min(xs), 4), "max": round(max(xs), 4)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--mesh", required=True, type=Path)
    ap.add_argument("--results", required=True, type=Path)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--scale", default="?")
    ap.add_argument("--queries", default="", help="comma-separated names or numbers; default: all")
    ap.add_argument("--no-explain", action="store_true")
    a = ap.parse_args()
    if a.reps < 1:
        sys.exit("sql_bench: --reps must be at least 1")

    mesh = a.mesh.resolve()
    results = a.results
    results.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 1
    if cores > a.threads:
        os.sched_setaffinity(0, set(range(a.threads)))
    ports = port_dirs(mesh)
    if "web.events" not in ports:
        sys.exit(f"sql_bench: {mesh} has no published web.events: is it a published demo mesh?")
    queries = load_queries([q.strip() for q in a.queries.split(",") if q.strip()] or None)

    # The Parquet files of each table's latest version, as delta-rs lists them.
    snapshots = {}
    for name in sorted({t for _, _, sql in queries for t in tables_of(sql, ports)}):
        dt = DeltaTable(str(ports[name]))
        files = [u.removeprefix("file://") for u in dt.file_uris()]
        metas = [pq.ParquetFile(f).metadata for f in files]
        snapshots[name] = {
            "version": dt.version(),
            "files": files,
            "rows": sum(m.num_rows for m in metas),
            "row_groups": sum(m.num_row_groups for m in metas),
            "mib": round(sum(os.path.getsize(f) for f in files) / 2**20, 1),
        }

    info = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cores} cores, {platform.machine()}, "
        f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB",
        "threads": a.threads,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "scale": a.scale,
        "reps": a.reps,
        "tessera": subprocess.run([a.tessera, "--version"], capture_output=True, text=True).stdout.strip(),
        "duckdb": duckdb.__version__,
        "tables": {k: {kk: vv for kk, vv in v.items() if kk != "files"} for k, v in snapshots.items()},
    }
    for name, s in snapshots.items():
        log(f"{name}: Delta version {s['version']}, {s['rows']:,} rows in {len(s['files'])} file(s), "
            f"{s['row_groups']} row groups, {s['mib']} MiB")

    out = []
    mismatches = 0
    for qi, (name, sql_file, sql) in enumerate(queries, 1):
        files = {t: snapshots[t]["files"] for t in tables_of(sql, ports)}
        duck = Duck(files, a.threads)
        tag = f"[{qi}/{len(queries)}] {name}"
        log(f"{tag}: warm-up …")
        t_warm, d_warm = run_tessera(a.tessera, mesh, sql_file), duck.run(sql)
        expected_read = ", ".join(f"{t} v{snapshots[t]['version']}" for t in sorted(files))
        read_sorted = ", ".join(sorted(x.strip() for x in t_warm["read"].split(",")))
        t_runs, d_runs = [], []
        for i in range(a.reps):
            t_runs.append(run_tessera(a.tessera, mesh, sql_file))
            d_runs.append(duck.run(sql))
            log(f"{tag}: {i + 1}/{a.reps}: tessera {t_runs[-1]['s']:.3f}s (process {t_runs[-1]['wall_s']:.2f}s), "
                f"duckdb {d_runs[-1]['s']:.3f}s")
        t_rows, d_rows = rows_of(t_warm["table"]), rows_of(d_warm["table"])
        verdict = compare(t_rows, d_rows)
        if read_sorted != expected_read:
            verdict = f"MISMATCH: tessera read {read_sorted}, duckdb the files of {expected_read}"
        if verdict != "same":
            mismatches += 1
            log(f"{tag}: {verdict}")
        pacsv.write_csv(t_warm["table"], results / f"sql-{name}-tessera.csv")
        pacsv.write_csv(d_warm["table"], results / f"sql-{name}-duckdb.csv")
        explain = {}
        if not a.no_explain:
            log(f"{tag}: explain analyze …")
            p = subprocess.run(
                [a.tessera, "explain", "--analyze", "--mesh", str(mesh), "-f", str(sql_file)], capture_output=True, text=True
            )
            (results / f"sql-{name}-explain-tessera.txt").write_text(p.stdout + p.stderr)
            (results / f"sql-{name}-explain-duckdb.txt").write_text(duck.explain(sql) + "\n")
            explain = {"tessera": f"sql-{name}-explain-tessera.txt", "duckdb": f"sql-{name}-explain-duckdb.txt"}
        T, D = summary(t_runs), summary(d_runs)
        ratio = T["median"] / D["median"] if D["median"] > 0 else float("inf")
        out.append(
            {
                "query": name,
                "sql": sql,
                "tables": sorted(files),
                "rows": len(t_rows),
                "checksum": {"tessera": checksum(t_rows), "duckdb": checksum(d_rows)},
                "checksums_of_runs": {
                    "tessera": sorted({checksum(rows_of(r["table"])) for r in t_runs}),
                    "duckdb": sorted({checksum(rows_of(r["table"])) for r in d_runs}),
                },
                "result": verdict,
                "tessera": {
                    **T,
                    "planning_median": summary(t_runs, "planning_s")["median"],
                    "wall": summary(t_runs, "wall_s"),
                    "max_rss_mib": max((r["max_rss_mib"] or 0) for r in t_runs),
                    "runs": [strip(r) for r in t_runs],
                },
                "duckdb": {**D, "runs": [strip(r) for r in d_runs]},
                "ratio": round(ratio, 3),
                "explain": explain,
            }
        )
        for engine in ("tessera", "duckdb"):
            if len(out[-1]["checksums_of_runs"][engine]) > 1:
                mismatches += 1
                out[-1]["result"] = f"MISMATCH: {engine} returned different results across runs"
        del duck

    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    ratios = [q["ratio"] for q in out]
    median_ratio = statistics.median(ratios)
    worst = max(out, key=lambda q: q["ratio"])
    met = median_ratio <= MEDIAN_TARGET and worst["ratio"] <= WORST_TARGET

    w = max(len(q["query"]) for q in out)
    lines = [
        "",
        f"SQL queries — scale {a.scale}: web.events {snapshots['web.events']['rows']:,} rows "
        f"(v{snapshots['web.events']['version']}, {len(snapshots['web.events']['files'])} file(s), "
        f"{snapshots['web.events']['row_groups']} row groups, {snapshots['web.events']['mib']} MiB); "
        f"median of {a.reps} after a warm-up; {a.threads} threads each; {info['machine']}; {info['date']}",
        f"  {info['tessera']}; duckdb {info['duckdb']}; load average (1 min) {info['load_average_at_start'][0]} "
        f"at the start, {info['load_average_at_end'][0]} at the end",
        f"  tessera s: the --timing total (planning + execution, in the process); process s: the whole "
        f"`tessera sql` process; duckdb s: execute + to_arrow_table, in-process",
        "",
        f"  {'query':<{w}} {'rows':>5} {'tessera s':>10} {'(plan s)':>9} {'process s':>10} {'peak MiB':>9} "
        f"{'duckdb s':>9} {'ratio':>7}  result",
    ]
    for q in out:
        lines.append(
            f"  {q['query']:<{w}} {q['rows']:>5} {q['tessera']['median']:>10.3f} {q['tessera']['planning_median']:>9.3f} "
            f"{q['tessera']['wall']['median']:>10.2f} {q['tessera']['max_rss_mib']:>9.0f} {q['duckdb']['median']:>9.3f} "
            f"{q['ratio']:>6.2f}×  {q['result'] if q['result'] != 'same' else 'same result (' + q['checksum']['tessera'] + ')'}"
        )
    lines += [
        "",
        f"  median ratio tessera / duckdb: {median_ratio:.2f}×  (target ≤ {MEDIAN_TARGET}×); "
        f"worst: {worst['query']} {worst['ratio']:.2f}×  (target ≤ {WORST_TARGET}×) — "
        + ("MET" if met else "MISSED"),
    ]
    if mismatches:
        lines.append(f"  {mismatches} RESULT MISMATCH(ES): the engines disagree; see above and sql-results.json")
    lines.append("")
    report = "\n".join(lines)
    print(report)
    (results / "sql-report.txt").write_text(report + "\n")
    (results / "sql-results.json").write_text(
        json.dumps(
            {
                "info": info,
                "queries": out,
                "median_ratio": round(median_ratio, 3),
                "worst": {"query": worst["query"], "ratio": worst["ratio"]},
                "targets": {"median_ratio": MEDIAN_TARGET, "worst_ratio": WORST_TARGET, "met": met},
                "mismatches": mismatches,
            },
            indent=2,
        )
    )
    log(f"results: {results}/ (sql-report.txt, sql-results.json, each query's results and plans)")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
