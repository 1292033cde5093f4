"""Investigation aid: DataFusion 55 (datafusion-python) EXPLAIN ANALYZE of one bench/sql query
over the snapshot's files as ListingTables (run ab.py once first: it makes the links).

    python explain_df.py MESH QUERY_NUMBER [partitions=N] [layout=DIR] [datafusion.key=value …]
"""
import os, sys, tempfile
from pathlib import Path
from datafusion import SessionContext, SessionConfig
os.sched_setaffinity(0, {0, 1})
mesh = Path(sys.argv[1]); q = sys.argv[2]; opts = dict(a.split("=",1) for a in sys.argv[3:])
cfg = SessionConfig().with_target_partitions(int(opts.pop("partitions", 2)))
layout = opts.pop("layout", None)
for k, v in opts.items(): cfg = cfg.set(k, v)
ctx = SessionContext(cfg)
ctx.sql("CREATE SCHEMA IF NOT EXISTS web"); ctx.sql("CREATE SCHEMA IF NOT EXISTS crm")
links = Path(tempfile.gettempdir()) / "tessera-probe-links"/mesh.name
for name in ["web.events", "crm.customers"]:
    d = Path(layout) if (name == "web.events" and layout) else links/name
    ctx.register_parquet(name, str(d) + "/")
qf = next(f for f in (Path(__file__).resolve().parent.parent / "sql").glob("*.sql") if f.stem.split("_")[0] == q)
ctx.sql(qf.read_text()).to_arrow_table()
t = ctx.sql("EXPLAIN ANALYZE " + qf.read_text()).to_arrow_table()
import re
print(re.sub(r"file_groups=\{([0-9]+ groups?): \[.*?\]\]\}", r"file_groups={\1: …}", t.column(1)[0].as_py()))
