"""The governance benchmark (issue 5): the SQL query set of bench/sql/*.sql run by
`tessera sql` on the same data twice in one run — ungoverned, and governed as a principal
whose view of the queried ports has a masked column, a row filter and consent filtering —
with the overhead of the governed run, and the time of the policy (Cedar) decisions
measured apart.

    python governance_bench.py --tessera BIN --mesh DEMO_DIR --results DIR
                               [--reps N] [--threads N] [--scale S] [--queries a,b]
                               [--principal P] [--purpose U] [--breakdown] [--no-explain]
                               [--decision-reps N] [--work DIR]

The two meshes (made fresh on every run, in DEMO_DIR's sibling `<name>-governance/`):

    <name>-governance/ungoverned/   mesh.yaml + domains/ of DEMO_DIR, no policies/
    <name>-governance/governed/     the same + policies/ and the purposes, masking and
                                    consent of bench/governance/
    both: storage.root = DEMO_DIR/.tessera/data (absolute: the same published Delta tables,
          nothing is copied or published), each its own catalog (.tessera/catalog.db,
          filled from the Delta logs when the engine first opens) and mesh secret (the
          governed one kept from the previous run, so masked results compare across runs).

So the two differ only in governance. A mesh without policies/principals.yaml is
ungoverned (its ports are plain tables; statements are still audited, on both sides).

Per query: one warm-up run of each side, then N runs alternating (U G U G …; with
--breakdown also the partial variants, see below), each a `tessera sql --timing --format
arrow` process. The time compared is the `--timing` total (planning + execution in the
process: the governed side's planning includes opening its views — the consent port's
snapshot too). The process wall time is reported beside it; it also holds loading the
policies and the Cedar decisions, which happen when the session starts, before planning.

Governed results differ from ungoverned ones (the row filter and consent drop rows; a
masked key is a hash): they are checked against DuckDB instead, on the same Parquet files,
with the decisions re-applied by hand from `tessera policy check --format json` — the row
filters' bound predicates, the consent semi-join (latest record per subject for the
purpose, granted), and the hash mask recomputed in Python from the mesh secret
(HMAC-SHA256, 32 hex digits). Any difference is a MISMATCH (exit code 1).

Decision time, from commands that read no data (four, alternated, --decision-reps runs
each): `tessera policy check --as P --purpose U --format json` makes every Cedar decision
of a session (each port's `query`, each column's `read_column`, and `read_column_masked`
where that is denied, plus `read_audit`) on top of what `tessera policy schema` does (load
the mesh, open the engine, load and validate the policies): the difference of their
medians is the decision time. `tessera sql 'SELECT 1'` governed minus ungoverned is what
governance adds to every `tessera sql` process before planning (loading the policies, the
decisions, building the view definitions).

--breakdown adds four partial variants to every query, to show where the overhead goes,
each the governed view with one part of the governance (other principals of
bench/governance/principals.yaml, or the purpose `reporting`, which needs no consent):
`view only` (no filter, no consent, customer keys unmasked: nothing the queries read is
masked), `mask`, `row filters`, `consent`.

Writes to DIR: gov-report.txt, gov-results.json, gov-policy-check.json, and unless
--no-explain gov-<query>-explain-{ungoverned,governed}.txt (`tessera explain --analyze`).
"""

import argparse
import hashlib
import hmac
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import yaml

from deltalake import DeltaTable
from sql_bench import TIMING, Duck, checksum, compare, load_queries, port_dirs, rows_of, tables_of

HERE = Path(__file__).resolve().parent
GOVERNANCE = HERE / "governance"
TARGET = 1.10  # median ratio governed / ungoverned at most 1.10
PRINCIPAL = "bench.analyst@example.com"
PURPOSE = "campaign_analysis"
# (label, principal, purpose) of the --breakdown variants: the governed view with one
# part of the governance at a time (see bench/governance/principals.yaml).
BREAKDOWN = [
    ("view only", "bench.admin@example.com", "reporting"),  # no filter, no consent, keys unmasked
    ("mask", "bench.auditor@example.com", "reporting"),
    ("row filters", "bench.steward@example.com", "reporting"),
    ("consent", "bench.admin@example.com", "campaign_analysis"),
]
GOVERNANCE_KEYS = ("purposes", "masking", "consent")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- the two meshes ---------------------------------------------------------------------


def make_meshes(demo: Path, work: Path) -> tuple[Path, Path]:
    """Fresh `ungoverned/` and `governed/` copies of the demo mesh's files (not its data)."""
    source = yaml.safe_load((demo / "mesh.yaml").read_text())
    storage = (source.get("storage") or {}).get("root", "./.tessera/data")
    if "://" in storage:
        sys.exit(f"governance_bench: {demo}/mesh.yaml keeps its data at {storage}; this harness needs a local folder")
    data = (demo / storage).resolve()
    if not data.is_dir():
        sys.exit(f"governance_bench: no published data at {data}: run `tessera demo` first (bench/run does)")
    # The governed side keeps its mesh secret from run to run, so that masked results (and
    # their checksums) compare across runs.
    secret_file = work / "governed" / ".tessera" / "secret"
    secret = secret_file.read_bytes() if secret_file.is_file() else None
    shutil.rmtree(work, ignore_errors=True)
    out = []
    for name, governed in (("ungoverned", False), ("governed", True)):
        root = work / name
        shutil.copytree(demo / "domains", root / "domains")
        config = {k: v for k, v in source.items() if k not in GOVERNANCE_KEYS}
        config["storage"] = {**(source.get("storage") or {}), "root": str(data)}
        config["catalog"] = {**(source.get("catalog") or {}), "url": "sqlite://.tessera/catalog.db"}
        if governed:
            config.update(yaml.safe_load((GOVERNANCE / "mesh.governance.yaml").read_text()))
            (root / "policies").mkdir()
            for f in ("principals.yaml", "access.cedar", "row_filters.yaml"):
                shutil.copy(GOVERNANCE / f, root / "policies" / f)
        header = (
            f"# A copy of {demo}/mesh.yaml made by bench/governance_bench.py for the {name} side:\n"
            f"# the same published data (storage.root), its own catalog"
            + (", and the governance of bench/governance/.\n" if governed else ", no governance.\n")
        )
        (root / "mesh.yaml").write_text(header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        if governed and secret:
            (root / ".tessera").mkdir()
            secret_file.write_bytes(secret)
            secret_file.chmod(0o600)
        out.append(root)
    return out[0], out[1]


# --- running tessera --------------------------------------------------------------------


def who_args(who: tuple[str, str] | None) -> list[str]:
    return ["--as", who[0], "--purpose", who[1]] if who else []


def run_sql(tessera: str, mesh: Path, sql_file: Path, who: tuple[str, str] | None) -> dict:
    """One `tessera sql --timing --format arrow` process."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        cmd = ["/usr/bin/time", "-f", "%M", "-o", tf.name, tessera, "sql", "--mesh", str(mesh)]
        cmd += who_args(who) + ["--timing", "--format", "arrow", "-f", str(sql_file)]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, env={**os.environ, "NO_COLOR": "1"})
        wall = time.perf_counter() - t0
        rss = tf.read().strip().splitlines()
    stderr = p.stderr.decode(errors="replace")
    m = TIMING.search(stderr)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"tessera sql {' '.join(who_args(who))} failed (exit {p.returncode}):\n{stderr[-3000:]}")
    return {
        "s": float(m.group(3)),
        "planning_s": float(m.group(1)),
        "execution_s": float(m.group(2)),
        "wall_s": round(wall, 4),
        "max_rss_mib": round(int(rss[-1]) / 1024, 1) if rss and rss[-1].isdigit() else None,
        "rows": int(m.group(4)),
        "table": ipc.open_stream(p.stdout).read_all(),
    }


def timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    return time.perf_counter() - t0, p


def policy_check(tessera: str, mesh: Path, who: tuple[str, str]) -> tuple[float, dict]:
    wall, p = timed([tessera, "policy", "check", "--mesh", str(mesh), *who_args(who), "--format", "json"])
    if p.returncode != 0:
        raise RuntimeError(f"tessera policy check failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
    return wall, json.loads(p.stdout)


def cedar_requests(check: dict) -> int:
    """The Cedar authorizations a session makes: read_audit, and per port `query` and per
    column `read_column`, plus `read_column_masked` where read_column was denied."""
    n = 1
    for port in check["ports"]:
        n += 1 + sum(1 if c["access"]["decision"] == "visible" else 2 for c in port["columns"])
    return n


# --- the DuckDB reference for governed results -------------------------------------------


def mask_key(mesh: Path) -> bytes:
    """The `hash` mask's key, as tessera_engine::secret and tessera_governance::keyed derive it."""
    secret = os.environ.get("TESSERA_MESH_SECRET") or (mesh / ".tessera" / "secret").read_text()
    return hmac.new(secret.strip().encode(), b"tessera/mask", hashlib.sha256).digest()


def mask_hash(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]


class GovernedDuck(Duck):
    """DuckDB views that apply a principal's decisions by hand: the visible and masked
    columns, the row filters' bound predicates, the consent semi-join."""

    def __init__(self, files: dict[str, list[str]], threads: int, decisions: dict, consent_files: list[str], key: bytes):
        super().__init__({}, threads)
        con = self.con
        self.unsupported = []
        listed = lambda paths: ", ".join("'" + p.replace("'", "''") + "'" for p in paths)  # noqa: E731
        if consent_files:
            con.execute(f"CREATE TABLE consent AS SELECT * FROM read_parquet([{listed(consent_files)}])")
        for name, paths in files.items():
            schema, table = name.split(".")
            d = decisions[name]
            raw = f"raw_{schema}_{table}"
            con.execute(f"CREATE VIEW {raw} AS SELECT * FROM read_parquet([{listed(paths)}])")
            select = []
            for c in d["columns"]:
                col = '"' + c["name"].replace('"', '""') + '"'
                access = c["access"]
                if access["decision"] == "visible":
                    select.append(col)
                elif access["decision"] == "masked" and access["method"] == "hash":
                    # Every distinct value hashed once in Python, then joined in.
                    mapping = f"mask_{schema}_{table}_{c['name']}"
                    values = [v for (v,) in con.execute(f"SELECT DISTINCT CAST({col} AS VARCHAR) FROM {raw} WHERE {col} IS NOT NULL").fetchall()]
                    con.register("hashed", pa.table({"v": values, "h": [mask_hash(key, v) for v in values]}))
                    con.execute(f"CREATE TABLE {mapping} AS SELECT * FROM hashed")
                    con.unregister("hashed")
                    select.append(f"(SELECT h FROM {mapping} m WHERE m.v = CAST(r.{col} AS VARCHAR)) AS {col}")
                elif access["decision"] == "masked" and access["method"] == "partial":
                    # `ada@example.com` → `***@example.com`; `Lovelace` → `L***` (query/masks.rs).
                    text = f"CAST(r.{col} AS VARCHAR)"
                    select.append(
                        f"CASE WHEN {text} IS NULL THEN NULL WHEN strpos({text}, '@') > 0 "
                        f"THEN '***@' || regexp_extract({text}, '@([^@]*)$', 1) WHEN {text} = '' THEN '' "
                        f"ELSE left({text}, 1) || '***' END AS {col}"
                    )
                elif access["decision"] == "masked":
                    self.unsupported.append(f"{name}.{c['name']} ({access['method']} mask)")
                    select.append(f"NULL AS {col}")
            where = [f"({f['predicate']})" for f in d["row_filters"]]
            consent = d.get("consent")
            if consent:
                s = consent["settings"]
                q = lambda n: '"' + n.replace('"', '""') + '"'  # noqa: E731
                granted = (
                    f"SELECT subject FROM (SELECT {q(s['subject'])} AS subject, {q(s['granted'])} AS granted, "
                    f"row_number() OVER (PARTITION BY {q(s['subject'])} ORDER BY {q(s['recorded_at'])} DESC, {q(s['granted'])} ASC) AS latest "
                    f"FROM consent WHERE {q(s['purpose'])} = '{consent['purpose']}') WHERE latest = 1 AND granted"
                )
                where += [f"r.{q(c)} IN ({granted})" for c in consent["columns"]]
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            con.execute(
                f"CREATE VIEW {schema}.{table} AS SELECT {', '.join(select) or 'NULL AS x'} FROM {raw} r"
                + (f" WHERE {' AND '.join(where)}" if where else "")
            )


# --- the run ----------------------------------------------------------------------------


def summary(runs: list[dict], key: str = "s") -> dict:
    xs = [r[key] for r in runs]
    return {"median": round(statistics.median(xs), 4), "min": round(min(xs), 4), "max": round(max(xs), 4)}


def strip(run: dict) -> dict:
    return {k: v for k, v in run.items() if k != "table"}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--mesh", required=True, type=Path, help="the published demo mesh (bench/run's data folder)")
    ap.add_argument("--results", required=True, type=Path)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--scale", default="?")
    ap.add_argument("--queries", default="", help="comma-separated names or numbers; default: all")
    ap.add_argument("--principal", default=PRINCIPAL)
    ap.add_argument("--purpose", default=PURPOSE)
    ap.add_argument("--decision-reps", type=int, default=30, help="runs of each command of the decision-time probe")
    ap.add_argument("--breakdown", action="store_true", help="also time the partial variants (see the module doc)")
    ap.add_argument("--no-explain", action="store_true")
    ap.add_argument("--work", type=Path, help="where the two meshes go [default: <mesh>-governance next to the mesh]")
    a = ap.parse_args()
    if a.reps < 1:
        sys.exit("governance_bench: --reps must be at least 1")

    demo = a.mesh.resolve()
    results = a.results
    results.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 1
    if cores > a.threads:
        os.sched_setaffinity(0, set(range(a.threads)))
    queries = load_queries([q.strip() for q in a.queries.split(",") if q.strip()] or None)
    work = (a.work or demo.parent / f"{demo.name}-governance").resolve()
    ungoverned, governed = make_meshes(demo, work)
    who = (a.principal, a.purpose)
    log(f"meshes: {ungoverned} and {governed} (storage: {demo}/.tessera/data)")

    # The engine's first open fills each fresh catalog from the Delta logs, and the first
    # governed one writes the mesh secret: not part of any timed run.
    for mesh, w in ((ungoverned, None), (governed, who)):
        p = subprocess.run([a.tessera, "sql", "--mesh", str(mesh), *who_args(w), "SELECT 1"], capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"governance_bench: tessera sql on {mesh} failed:\n{p.stderr[-3000:]}")
        if p.stderr.strip():
            log(f"{mesh.name}: {p.stderr.strip()}")

    # What the principal may see, and a check that the design holds on the queried ports.
    _, check = policy_check(a.tessera, governed, who)
    (results / "gov-policy-check.json").write_text(json.dumps(check, indent=2) + "\n")
    decisions = {p["table"]: p for p in check["ports"]}
    ports = port_dirs(demo)
    queried = sorted({t for _, _, sql in queries for t in tables_of(sql, ports)})
    design = []
    for t in queried:
        d = decisions.get(t)
        if not d or not d["query"]["allowed"]:
            sys.exit(f"governance_bench: {a.principal} may not query {t} for {a.purpose}: {d and d['query']}")
        masked = [f"{c['name']} ({c['access']['method']})" for c in d["columns"] if c["access"]["decision"] == "masked"]
        absent = [c["name"] for c in d["columns"] if c["access"]["decision"] == "absent"]
        filters = [f"{f['name']}: {f['predicate']}" for f in d["row_filters"]]
        consent = d.get("consent")
        design.append(
            f"  {t}: masked {', '.join(masked) or 'none'}; absent {', '.join(absent) or 'none'}; "
            f"row filters {'; '.join(filters) or 'none'}; "
            + (f"consent on {', '.join(consent['columns'])} for `{consent['purpose']}` ({consent['settings']['port']})" if consent else "no consent")
        )
    for line in design:
        log(line)

    # The snapshots (the same for both sides), and the rows each side sees of each table.
    consent_port = next((d["consent"]["settings"]["port"] for d in decisions.values() if d.get("consent")), None)
    snapshots = {}
    for name in sorted(set(queried) | ({consent_port} if consent_port else set())):
        dt = DeltaTable(str(ports[name]))
        snapshots[name] = {"version": dt.version(), "files": [u.removeprefix("file://") for u in dt.file_uris()]}
    table_rows = {}
    for t in queried:
        counts = []
        for mesh, w in ((ungoverned, None), (governed, who)):
            p = subprocess.run(
                [a.tessera, "sql", "--mesh", str(mesh), *who_args(w), "--format", "csv", f"SELECT count(*) FROM {t}"],
                capture_output=True, text=True,
            )
            counts.append(int(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else None)
        table_rows[t] = {"ungoverned": counts[0], "governed": counts[1]}
        log(f"{t}: {counts[0]:,} rows ungoverned, {counts[1]:,} governed")

    key = mask_key(governed)
    sides = [("ungoverned", ungoverned, None), ("governed", governed, who)]
    if a.breakdown:
        sides += [(label, governed, (p, u)) for label, p, u in BREAKDOWN]
    info = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cores} cores, {platform.machine()}, "
        f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB",
        "threads": a.threads,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "scale": a.scale,
        "reps": a.reps,
        "principal": a.principal,
        "purpose": a.purpose,
        "tessera": subprocess.run([a.tessera, "--version"], capture_output=True, text=True).stdout.strip(),
        "tables": {k: {"version": v["version"], **table_rows.get(k, {})} for k, v in snapshots.items()},
        "design": [line.strip() for line in design],
    }

    out = []
    mismatches = 0
    for qi, (name, sql_file, sql) in enumerate(queries, 1):
        tag = f"[{qi}/{len(queries)}] {name}"
        log(f"{tag}: warm-up …")
        warm = {label: run_sql(a.tessera, mesh, sql_file, w) for label, mesh, w in sides}
        runs = {label: [] for label, _, _ in sides}
        for i in range(a.reps):
            for label, mesh, w in sides:
                runs[label].append(run_sql(a.tessera, mesh, sql_file, w))
            log(f"{tag}: {i + 1}/{a.reps}: " + ", ".join(f"{label} {runs[label][-1]['s']:.3f}s" for label, _, _ in sides))
        # Governed results against DuckDB with the decisions applied by hand.
        files = {t: snapshots[t]["files"] for t in tables_of(sql, ports)}
        duck = GovernedDuck(files, a.threads, decisions, snapshots[consent_port]["files"] if consent_port else [], key)
        g_rows = rows_of(warm["governed"]["table"])
        unsupported = [u for u in duck.unsupported if re.search(rf"\b{re.escape(u.split(' ')[0].split('.')[-1])}\b", sql)]
        if unsupported:
            verdict = f"not checked: no reference for {', '.join(unsupported)}"
        else:
            verdict = compare(g_rows, rows_of(duck.run(sql)["table"])).replace("tessera", "governed").replace("duckdb", "reference")
        del duck
        if verdict.startswith("MISMATCH"):
            mismatches += 1
            log(f"{tag}: {verdict}")
        for label in runs:
            if len({checksum(rows_of(r["table"])) for r in runs[label]}) > 1:
                mismatches += 1
                verdict = f"MISMATCH: {label} returned different results across runs"
        explain = {}
        if not a.no_explain:
            log(f"{tag}: explain analyze …")
            for label, mesh, w in sides[:2]:
                p = subprocess.run(
                    [a.tessera, "explain", "--analyze", "--mesh", str(mesh), *who_args(w), "-f", str(sql_file)],
                    capture_output=True, text=True,
                )
                path = f"gov-{name}-explain-{label}.txt"
                (results / path).write_text(p.stdout + p.stderr)
                explain[label] = path
        per_side = {}
        for label in runs:
            per_side[label] = {
                **summary(runs[label]),
                "planning_median": summary(runs[label], "planning_s")["median"],
                "wall": summary(runs[label], "wall_s"),
                "max_rss_mib": max((r["max_rss_mib"] or 0) for r in runs[label]),
                "rows": runs[label][0]["rows"],
                "checksum": checksum(rows_of(warm[label]["table"])),
                "runs": [strip(r) for r in runs[label]],
            }
        base = per_side["ungoverned"]
        out.append(
            {
                "query": name,
                "tables": sorted(files),
                "sides": per_side,
                "ratio": {l: round(s["median"] / base["median"], 3) for l, s in per_side.items() if l != "ungoverned"},
                "wall_ratio": round(per_side["governed"]["wall"]["median"] / base["wall"]["median"], 3),
                "governed_result": verdict,
                "explain": explain,
            }
        )

    # Decision time, from four commands that read no data, alternated:
    #   policy check − policy schema: the session's Cedar decisions (both load the mesh, open
    #     the engine and load the policies; only `check` decides, for every port and column);
    #   sql SELECT 1 governed − ungoverned: what governance adds to every `tessera sql`
    #     before planning (loading the policies, the decisions, the views' set-up).
    log(f"decision time: policy check, policy schema, SELECT 1 governed and ungoverned, {a.decision_reps} runs each …")
    probes = {
        "policy_check": [a.tessera, "policy", "check", "--mesh", str(governed), *who_args(who), "--format", "json"],
        "policy_schema": [a.tessera, "policy", "schema", "--mesh", str(governed)],
        "select1_governed": [a.tessera, "sql", "--mesh", str(governed), *who_args(who), "SELECT 1"],
        "select1_ungoverned": [a.tessera, "sql", "--mesh", str(ungoverned), "SELECT 1"],
    }
    walls = {k: [] for k in probes}
    for i in range(a.decision_reps + 1):
        for k, cmd in probes.items():
            wall, p = timed(cmd)
            if p.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
            if i:  # the first round is a warm-up
                walls[k].append(wall)
    med = {k: statistics.median(v) for k, v in walls.items()}
    decision = {
        "commands_s": {k: {"median": round(med[k], 4), "min": round(min(v), 4)} for k, v in walls.items()},
        "decisions_ms": round(1000 * (med["policy_check"] - med["policy_schema"]), 1),
        "governed_setup_ms": round(1000 * (med["select1_governed"] - med["select1_ungoverned"]), 1),
        "cedar_requests": cedar_requests(check),
        "ports": len(check["ports"]),
        "runs": a.decision_reps,
    }

    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    ratios = [q["ratio"]["governed"] for q in out]
    median_ratio = statistics.median(ratios)
    worst = max(out, key=lambda q: q["ratio"]["governed"])
    met = median_ratio <= TARGET

    w = max(len(q["query"]) for q in out)
    extra = [label for label, _, _ in sides[2:]]
    lines = [
        "",
        f"Governance overhead — scale {a.scale}; median of {a.reps} after a warm-up; {a.threads} threads; "
        f"{info['machine']}; {info['date']}",
        f"  {info['tessera']}; load average (1 min) {info['load_average_at_start'][0]} at the start, "
        f"{info['load_average_at_end'][0]} at the end",
        f"  governed: {a.principal} for purpose {a.purpose}",
        *design,
        "  rows each side sees: "
        + "; ".join(f"{t} {r['ungoverned']:,} ungoverned → {r['governed']:,} governed" for t, r in table_rows.items()),
        "  s: the --timing total (planning + execution, in the process); process s: the whole `tessera sql` process",
        "",
        f"  {'query':<{w}} {'rows U':>6} {'rows G':>6} {'ungov. s':>9} {'gov. s':>9} {'(plan U/G)':>12} "
        f"{'process U/G s':>14} {'ratio':>7}"
        + "".join(f" {label:>15}" for label in extra)
        + "  governed result",
    ]
    for q in out:
        u, g = q["sides"]["ungoverned"], q["sides"]["governed"]
        lines.append(
            f"  {q['query']:<{w}} {u['rows']:>6} {g['rows']:>6} {u['median']:>9.3f} {g['median']:>9.3f} "
            f"{u['planning_median']:>5.3f}/{g['planning_median']:<6.3f} {u['wall']['median']:>6.2f}/{g['wall']['median']:<7.2f} "
            f"{q['ratio']['governed']:>6.2f}×"
            + "".join(f" {q['ratio'][label]:>14.2f}×" for label in extra)
            + f"  {q['governed_result'] if q['governed_result'] != 'same' else 'same as reference (' + g['checksum'] + ')'}"
        )
    lines += [
        "",
        f"  median ratio governed / ungoverned: {median_ratio:.2f}×  (target ≤ {TARGET}×) — "
        + ("MET" if met else "MISSED")
        + f"; worst: {worst['query']} {worst['ratio']['governed']:.2f}×",
        "  governed results differ from ungoverned ones by design (row filters, consent, masked keys); "
        "they are compared with DuckDB applying the same decisions",
        f"  policy decisions: {decision['cedar_requests']} Cedar requests ({decision['ports']} ports) per session: "
        f"{decision['decisions_ms']:.1f} ms = `policy check` {med['policy_check']:.3f}s − `policy schema` "
        f"{med['policy_schema']:.3f}s; governance set-up per `tessera sql`: {decision['governed_setup_ms']:.1f} ms = "
        f"SELECT 1 governed {med['select1_governed']:.3f}s − ungoverned {med['select1_ungoverned']:.3f}s "
        f"(process wall times, medians of {a.decision_reps}; outside --timing)",
    ]
    if mismatches:
        lines.append(f"  {mismatches} MISMATCH(ES): see above and gov-results.json")
    lines.append("")
    report = "\n".join(lines)
    print(report)
    (results / "gov-report.txt").write_text(report + "\n")
    (results / "gov-results.json").write_text(
        json.dumps(
            {
                "info": info,
                "queries": out,
                "median_ratio": round(median_ratio, 3),
                "worst": {"query": worst["query"], "ratio": worst["ratio"]["governed"]},
                "target": {"median_ratio": TARGET, "met": met},
                "decision": decision,
                "mismatches": mismatches,
            },
            indent=2,
        )
    )
    log(f"results: {results}/ (gov-report.txt, gov-results.json, gov-policy-check.json, plans)")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
