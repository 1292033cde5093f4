"""The measurements of bench/run, side by side in one run; bench/run sets everything up
(the release build, the Python tools, the generated data) and then calls this.

    python bench.py --tessera BIN --mesh DEMO_DIR --results DIR [--reps N] [--scale S] [--no-duckdb]

Each timed command runs as its own process under `/usr/bin/time -v`: the wall time is
measured around the process (start-up included, for every tool alike), the peak memory is
time's "Maximum resident set size". The two sides of each comparison alternate
(A B A B …) so that both see the same machine. The table shows the best (lowest) time of
the repetitions and the highest peak RSS; every repetition is in results.json.
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
PRODUCT = "web/events"
CONTRACT = "raw_events.bench.odcs.yaml"
FAILING = "raw_events.bench-failing.odcs.yaml"
PUBLISH_TARGET = 1.2  # publish-with-checks within 1.2x of the plain delta-rs write
TEST_TARGET = 10.0  # contract test at least 10x faster than datacontract-cli


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def timed(cmd: list[str], results: Path, name: str, cwd: Path | None = None, env=None) -> dict:
    """Runs `cmd` under /usr/bin/time -v; returns wall seconds, peak RSS, CPU, exit code and
    the output (also kept in results/<name>.out and .err)."""
    tfile = results / f"{name}.time"
    t0 = time.perf_counter()
    p = subprocess.run(
        ["/usr/bin/time", "-v", "-o", str(tfile), *cmd],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    (results / f"{name}.out").write_text(p.stdout)
    (results / f"{name}.err").write_text(p.stderr)
    tv = tfile.read_text()

    def field(label: str) -> float:
        m = re.search(re.escape(label) + r":\s*([0-9.]+)", tv)
        return float(m.group(1)) if m else float("nan")

    return {
        "wall_s": round(wall, 3),
        "user_s": field("User time (seconds)"),
        "sys_s": field("System time (seconds)"),
        "max_rss_kib": int(field("Maximum resident set size (kbytes)")),
        "exit_code": p.returncode,
        "stdout": p.stdout,
        "stderr": p.stderr,
    }


def summary(runs: list[dict]) -> dict:
    walls = [r["wall_s"] for r in runs]
    return {
        "best_s": min(walls),
        "median_s": round(statistics.median(walls), 3),
        "all_s": walls,
        "max_rss_mib": round(max(r["max_rss_kib"] for r in runs) / 1024, 1),
        "cpu_s_of_best": round(
            min(runs, key=lambda r: r["wall_s"])["user_s"] + min(runs, key=lambda r: r["wall_s"])["sys_s"], 2
        ),
    }


def strip(run: dict) -> dict:
    return {k: v for k, v in run.items() if k not in ("stdout", "stderr")}


def fail(msg: str, run: dict | None = None) -> None:
    log(f"bench: {msg}")
    if run is not None:
        log("--- stdout ---\n" + run["stdout"][-4000:] + "\n--- stderr ---\n" + run["stderr"][-4000:])
    sys.exit(1)


def version_of(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def tessera_counts(text: str) -> tuple[int, int, int]:
    """(checks, failed, warnings) from the summary line of `tessera test`'s text report."""
    m = re.search(r"(\d+) checks, (\d+) failed, (\d+) warnings", text)
    return tuple(int(x) for x in m.groups()) if m else (-1, -1, -1)


def datacontract_counts(results_json: Path) -> dict:
    data = json.loads(results_json.read_text())
    counts: dict[str, int] = {}
    for c in data.get("checks", []):
        counts[c.get("result", "?")] = counts.get(c.get("result", "?"), 0) + 1
    counts["result"] = data.get("result")
    return counts


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--mesh", required=True, type=Path)
    ap.add_argument("--results", required=True, type=Path)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scale", default="10")
    ap.add_argument("--no-duckdb", action="store_true")
    a = ap.parse_args()

    py = sys.executable
    datacontract = str(Path(py).parent / "datacontract")
    tessera = a.tessera
    mesh = a.mesh.resolve()
    results = a.results
    results.mkdir(parents=True, exist_ok=True)
    source = mesh / "data/web/raw_events.parquet"
    if not source.is_file():
        fail(f"{source} is missing: is {mesh} a generated demo mesh?")
    deltars_table = mesh.parent / f"{mesh.name}-deltars-events"

    import pyarrow.parquet as pq

    meta = pq.ParquetFile(source).metadata
    info = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, {round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB",
        "scale": a.scale,
        "reps": a.reps,
        "source": str(source),
        "source_rows": meta.num_rows,
        "source_mib": round(source.stat().st_size / 2**20, 1),
        "source_row_groups": meta.num_row_groups,
        "tessera": version_of([tessera, "--version"]),
        "deltalake": version_of([py, "-c", "import deltalake; print(deltalake.__version__)"]),
        "pyarrow": version_of([py, "-c", "import pyarrow; print(pyarrow.__version__)"]),
        "datacontract": version_of([datacontract, "--version"]),
        "duckdb": version_of([py, "-c", "import duckdb; print(duckdb.__version__)"]),
    }
    log(
        f"source: {source} ({info['source_rows']:,} rows, {info['source_mib']} MiB, "
        f"{info['source_row_groups']} row groups); {a.reps} repetition(s) of each"
    )

    # ---- 1. publish with checks vs a plain delta-rs write --------------------------------
    publish_cmd = [tessera, "publish", PRODUCT, "--force", "--mesh", str(mesh), "--quiet", "--format", "json"]
    deltars_cmd = [py, str(HERE / "deltars_write.py"), str(source), str(deltars_table)]
    tessera_runs, deltars_runs = [], []
    for i in range(a.reps):
        log(f"[1/4] publish {i + 1}/{a.reps}: tessera publish {PRODUCT} --force …")
        r = timed(publish_cmd, results, f"publish-tessera-{i + 1}")
        if r["exit_code"] != 0:
            fail("tessera publish failed", r)
        outcome = json.loads(r["stdout"])[0]
        if outcome["status"] != "succeeded":
            fail(f"tessera publish: status {outcome['status']}", r)
        r["outcome"] = {
            "run_id": outcome["run_id"],
            "duration_ms": outcome["duration_ms"],
            "rows": sum(p["rows"] for p in outcome["ports"]),
            "version": [p.get("version") for p in outcome["ports"]],
            "source_checks": sum(len(s["report"]["checks"]) for s in outcome["sources"]),
            "port_checks": sum(len((p.get("report") or {}).get("checks", [])) for p in outcome["ports"]),
        }
        tessera_runs.append(r)
        log(f"      {r['wall_s']:.2f}s, {r['max_rss_kib'] / 1024:.0f} MiB")
        log(f"[1/4] publish {i + 1}/{a.reps}: delta-rs write_deltalake …")
        r = timed(deltars_cmd, results, f"publish-deltars-{i + 1}")
        if r["exit_code"] != 0:
            fail("the delta-rs write failed", r)
        r["inner"] = json.loads(r["stdout"].strip().splitlines()[-1])
        deltars_runs.append(r)
        log(f"      {r['wall_s']:.2f}s, {r['max_rss_kib'] / 1024:.0f} MiB")
    if tessera_runs[0]["outcome"]["rows"] > deltars_runs[0]["inner"]["rows"]:
        fail("tessera published more rows than the source has")

    # Where Tessera's time goes: one more publish on a pseudo-terminal, its stages timed.
    log("[2/4] stage split: one more tessera publish, stages timed from its progress line …")
    p = subprocess.run(
        [py, str(HERE / "stage_split.py"), PRODUCT, "--", tessera, "publish", PRODUCT, "--force", "--mesh", str(mesh)],
        capture_output=True,
        text=True,
    )
    try:
        split = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        split = {"error": p.stdout[-2000:] + p.stderr[-2000:]}
    best_run_id = min(tessera_runs, key=lambda r: r["wall_s"])["outcome"]["run_id"]
    run_record = subprocess.run(
        [tessera, "runs", "--id", best_run_id, "--mesh", str(mesh), "--format", "json"],
        capture_output=True,
        text=True,
    )
    (results / "publish-tessera-best-run.json").write_text(run_record.stdout)

    # ---- 2. contract test: tessera test vs datacontract test -----------------------------
    shutil.copy(HERE / CONTRACT, mesh / CONTRACT)
    failing_text = (HERE / CONTRACT).read_text().replace(
        "validValues: [mobile, desktop, tablet]", "validValues: [mobile, desktop]"
    )
    if failing_text == (HERE / CONTRACT).read_text():
        fail("could not make the failing variant of the contract")
    (mesh / FAILING).write_text(failing_text)
    dc_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    ttest_runs, dctest_runs = [], []
    for i in range(a.reps):
        log(f"[3/4] contract test {i + 1}/{a.reps}: tessera test {CONTRACT} …")
        r = timed([tessera, "test", CONTRACT], results, f"test-tessera-{i + 1}", cwd=mesh)
        checks, failed, warnings = tessera_counts(r["stdout"])
        r["checks"] = {"checks": checks, "failed": failed, "warnings": warnings}
        if r["exit_code"] != 0 or checks <= 0:
            fail("tessera test did not pass", r)
        ttest_runs.append(r)
        log(f"      {r['wall_s']:.2f}s, {r['max_rss_kib'] / 1024:.0f} MiB")
        log(f"[3/4] contract test {i + 1}/{a.reps}: datacontract test {CONTRACT} …")
        out_json = results / f"test-datacontract-{i + 1}.json"
        r = timed(
            [datacontract, "test", CONTRACT, "--output-format", "json", "--output", str(out_json)],
            results,
            f"test-datacontract-{i + 1}",
            cwd=mesh,
            env=dc_env,
        )
        if r["exit_code"] != 0:
            fail("datacontract test did not pass", r)
        r["checks"] = datacontract_counts(out_json)
        dctest_runs.append(r)
        log(f"      {r['wall_s']:.2f}s, {r['max_rss_kib'] / 1024:.0f} MiB")

    # Sanity: both really run the checks — the failing variant must fail in both.
    log(f"[3/4] sanity: both testers on {FAILING} (device without `tablet`: must fail) …")
    t_bad = timed([tessera, "test", FAILING], results, "sanity-tessera", cwd=mesh)
    d_bad_json = results / "sanity-datacontract.json"
    d_bad = timed(
        [datacontract, "test", FAILING, "--output-format", "json", "--output", str(d_bad_json)],
        results,
        "sanity-datacontract",
        cwd=mesh,
        env=dc_env,
    )
    d_bad_counts = datacontract_counts(d_bad_json) if d_bad_json.exists() else {}
    t_bad_counts = tessera_counts(t_bad["stdout"])
    sanity_ok = t_bad["exit_code"] == 1 and t_bad_counts[1] == 1 and d_bad["exit_code"] != 0 and d_bad_counts.get("failed") == 1

    # ---- 3. DuckDB reference (optional) ---------------------------------------------------
    duck = None
    if not a.no_duckdb:
        log("[4/4] DuckDB reference queries …")
        tessera_table = mesh / ".tessera/data/web/events/events"
        p = subprocess.run(
            [py, str(HERE / "duckdb_reference.py"), str(source), str(tessera_table), str(a.reps)],
            capture_output=True,
            text=True,
        )
        duck = json.loads(p.stdout) if p.returncode == 0 else {"error": p.stderr[-2000:]}

    # ---- report ----------------------------------------------------------------------------
    T, D = summary(tessera_runs), summary(deltars_runs)
    TT, DT = summary(ttest_runs), summary(dctest_runs)
    publish_ratio = T["best_s"] / D["best_s"]
    test_speedup = DT["best_s"] / TT["best_s"]
    best_d = min(deltars_runs, key=lambda r: r["wall_s"])["inner"]
    out = tessera_runs[0]["outcome"]
    tchecks = ttest_runs[0]["checks"]
    dchecks = dctest_runs[0]["checks"]

    def row(name: str, s: dict, note: str = "") -> str:
        return f"  {name:<46} {s['best_s']:>8.2f} {s['median_s']:>8.2f} {s['cpu_s_of_best']:>8.1f} {s['max_rss_mib']:>9.0f}  {note}"

    head = f"  {'':<46} {'best s':>8} {'median s':>8} {'CPU s':>8} {'peak MiB':>9}"
    lines = [
        "",
        f"Tessera benchmark — scale {a.scale}: {info['source_rows']:,} source web events "
        f"({info['source_mib']} MiB Parquet); best of {a.reps}; {info['machine']}; {info['date']}",
        f"  {info['tessera']}; deltalake {info['deltalake']}; pyarrow {info['pyarrow']}; "
        f"datacontract-cli {info['datacontract']}; duckdb {info['duckdb']}",
        "",
        "1. Publish the web events port",
        head,
        row(
            "tessera publish web/events --force",
            T,
            f"{out['rows']:,} rows published; {out['source_checks']} source + {out['port_checks']} port checks",
        ),
        row(
            "delta-rs write_deltalake (pyarrow read + write)",
            D,
            f"read {best_d['read_s']:.2f}s + write {best_d['write_s']:.2f}s + imports {best_d['import_s']:.2f}s",
        ),
        f"  ratio tessera / delta-rs: {publish_ratio:.2f}×   target ≤ {PUBLISH_TARGET}×   "
        + ("MET" if publish_ratio <= PUBLISH_TARGET else "MISSED"),
    ]
    if "stages_s" in split:
        st = ", ".join(f"{k} {v:.1f}" for k, v in split["stages_s"].items())
        lines.append(
            f"  tessera stages (s, one more run on a terminal): start-up {split['startup_s']:.1f}, {st}, "
            f"exit {split['exit_s'] or 0:.1f}; total {split['total_s']:.1f}"
        )
    lines += [
        "",
        f"2. Test a 5-check contract ({CONTRACT}) on the source Parquet",
        head,
        row(
            f"tessera test {CONTRACT}",
            TT,
            f"{tchecks['checks']} checks reported (schema + 5), {tchecks['failed']} failed",
        ),
        row(
            f"datacontract test {CONTRACT}",
            DT,
            f"{sum(v for k, v in dchecks.items() if k != 'result')} checks reported: "
            + ", ".join(f"{v} {k}" for k, v in dchecks.items() if k != "result"),
        ),
        f"  speed-up datacontract / tessera: {test_speedup:.1f}×   target ≥ {TEST_TARGET:.0f}×   "
        + ("MET" if test_speedup >= TEST_TARGET else "MISSED"),
        f"  sanity (device without `tablet` must fail): tessera exit {t_bad['exit_code']}, "
        f"{t_bad_counts[1]} failed; datacontract exit {d_bad['exit_code']}, {d_bad_counts.get('failed')} failed — "
        + ("both detect it" if sanity_ok else "NOT BOTH DETECTED"),
    ]
    if duck and "checks_s" in duck:
        lines += [
            "",
            "3. DuckDB reference (in-process, no start-up; best of the repetitions)",
            f"  the 5 checks as one hand-written query on the source Parquet: {duck['checks_s']:.2f}s  "
            f"({duck['checks']})",
            f"  events and distinct customers per channel on the published table "
            f"({duck['delta_files']} Parquet file(s) of its current version): {duck['per_channel_s']:.2f}s",
        ]
    elif duck:
        lines += ["", f"3. DuckDB reference failed: {duck.get('error')}"]
    lines.append("")
    report = "\n".join(lines)

    detail = [
        "",
        "=" * 100,
        f"tessera test {CONTRACT} (first repetition, stdout):",
        ttest_runs[0]["stdout"].rstrip(),
        "",
        f"datacontract test {CONTRACT} (first repetition, stdout):",
        dctest_runs[0]["stdout"].rstrip(),
        "",
        f"tessera test {FAILING} (sanity, exit {t_bad['exit_code']}):",
        t_bad["stdout"].rstrip(),
        "",
        f"datacontract test {FAILING} (sanity, exit {d_bad['exit_code']}), the failed checks:",
        "\n".join(l for l in d_bad["stdout"].splitlines() if "failed" in l.lower() or "🔴" in l) or d_bad["stdout"][-3000:],
        "=" * 100,
    ]
    print("\n".join(detail))
    print(report)
    (results / "report.txt").write_text(report + "\n")
    (results / "results.json").write_text(
        json.dumps(
            {
                "info": info,
                "publish": {
                    "tessera": {**T, "runs": [strip(r) for r in tessera_runs]},
                    "deltars": {**D, "runs": [strip(r) for r in deltars_runs]},
                    "ratio": round(publish_ratio, 3),
                    "target": PUBLISH_TARGET,
                    "tessera_stages": split,
                },
                "test": {
                    "tessera": {**TT, "runs": [strip(r) for r in ttest_runs]},
                    "datacontract": {**DT, "runs": [strip(r) for r in dctest_runs]},
                    "speedup": round(test_speedup, 2),
                    "target": TEST_TARGET,
                    "sanity": {
                        "tessera_exit": t_bad["exit_code"],
                        "tessera_failed": t_bad_counts[1],
                        "datacontract_exit": d_bad["exit_code"],
                        "datacontract_counts": d_bad_counts,
                        "both_detect": sanity_ok,
                    },
                },
                "duckdb": duck,
            },
            indent=2,
        )
    )
    log(f"results: {results}/ (report.txt, results.json, each command's output and /usr/bin/time -v)")
    return 0 if sanity_ok else 1


if __name__ == "__main__":
    sys.exit(main())
