"""Investigation aid for the SQL benchmark (not part of bench/run): times the queries of
bench/sql/ under several variants, interleaved, median of REPS after a warm-up.

    python ab.py MESH QUERIES REPS VARIANT...
    python ab.py ~/.cache/tessera-bench-data/scale-10 5,6,7 5 tessera duckdb "df2:" \
        "df2push:datafusion.execution.parquet.pushdown_filters=true" "df8:partitions=8"

A VARIANT is LABEL:key=value;key=value. By the label's start:
- tessera…: `tessera sql --timing` (the total); keys: mesh=DIR (another mesh, e.g. a copy
  with `query: {target_partitions: N}` or a re-written events table), preload=LIB (LD_PRELOAD,
  e.g. libmimalloc), bin=BINARY, env.NAME=VALUE.
- duckdb…: DuckDB (threads=2) over the snapshot's files; layout=DIR reads web.events from
  the Parquet files in DIR instead.
- anything else: DataFusion (datafusion-python 55, the DataFusion line Tessera uses) with
  the snapshot's files registered as ListingTables; keys: partitions=N (target partitions),
  layout=DIR, and any DataFusion config key.
Needs a venv with datafusion==55.0.0, duckdb, deltalake and pyarrow (not bench/run's).
"""
import os, sys, tempfile, time, statistics, subprocess, re
from pathlib import Path
from deltalake import DeltaTable
from datafusion import SessionContext, SessionConfig
os.sched_setaffinity(0, {0, 1})
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
mesh = Path(sys.argv[1]); qnames = sys.argv[2].split(","); reps = int(sys.argv[3])
variants = sys.argv[4:]  # each: label:key=val;key=val  (special keys: partitions, layout, tessera_mesh)
TB = os.environ.get("TESSERA_BIN") or str(Path.home() / ".cache/tessera-target-release/release/tessera")
ports = {"web.events": mesh/".tessera/data/web/events/events", "crm.customers": mesh/".tessera/data/crm/customers/customers"}
links = Path(tempfile.gettempdir()) / "tessera-probe-links"/mesh.name
for name, d in ports.items():
    ld = links/name; ld.mkdir(parents=True, exist_ok=True)
    for f in ld.glob("*.parquet"): f.unlink()
    for u in DeltaTable(str(d)).file_uris():
        p = Path(u.removeprefix("file://")); (ld/p.name).symlink_to(p)
def make(spec):
    label, _, kv = spec.partition(":")
    opts = dict(x.split("=", 1) for x in kv.split(";") if x)
    if label.startswith("tessera"):
        m = opts.get("mesh", str(mesh))
        def run(qf):
            env = dict(os.environ)
            if "preload" in opts: env["LD_PRELOAD"] = opts["preload"]
            for k, v in opts.items():
                if k.startswith("env."): env[k[4:]] = v
            p = subprocess.run([opts.get("bin", str(TB)), "sql", "--mesh", m, "--timing", "--format", "csv", "-f", str(qf)], capture_output=True, text=True, env=env)
            t = re.search(r"total ([0-9.]+)s", p.stderr)
            if not t: raise SystemExit(p.stderr)
            return float(t.group(1))
        return label, run
    if label.startswith("duckdb"):
        import sql_bench as sb
        files = {}
        for name in ports:
            d = Path(opts["layout"]) if (name == "web.events" and "layout" in opts) else links/name
            files[name] = sorted(str(f) for f in d.glob("*.parquet"))
        duck = sb.Duck(files, 2)
        def run(qf):
            t = time.perf_counter(); duck.con.execute(qf.read_text()).to_arrow_table(); return time.perf_counter() - t
        return label, run
    cfg = SessionConfig().with_target_partitions(int(opts.pop("partitions", 2)))
    layout = opts.pop("layout", None)
    for k, v in opts.items(): cfg = cfg.set(k, v)
    ctx = SessionContext(cfg)
    ctx.sql("CREATE SCHEMA IF NOT EXISTS web"); ctx.sql("CREATE SCHEMA IF NOT EXISTS crm")
    for name in ports:
        d = Path(layout) if (name == "web.events" and layout) else links/name
        ctx.register_parquet(name, str(d) + "/")
    def run(qf):
        t = time.perf_counter(); ctx.sql(qf.read_text()).to_arrow_table(); return time.perf_counter() - t
    return label, run
runs = [make(v) for v in variants]
qfs = [q for q in sorted((Path(__file__).resolve().parent.parent / "sql").glob("*.sql")) if any(q.stem.split("_")[0] == n or q.stem == n for n in qnames)]
print(f"load {os.getloadavg()[0]:.2f}", flush=True)
for qf in qfs:
    res = {l: [] for l, _ in runs}
    for l, r in runs: r(qf)  # warm-up
    for i in range(reps):
        for l, r in runs: res[l].append(r(qf))
    print(qf.stem, "  ".join(f"{l} {statistics.median(v):.3f}" for l, v in res.items()), flush=True)
print(f"load {os.getloadavg()[0]:.2f}", flush=True)
