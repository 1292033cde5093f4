"""The serving benchmark (issue 6): `tessera serve` on the demo mesh, measured through its
three protocols against local reads and a real PostgreSQL server, on the same data in one
run, and the catalog API on a synthetic mesh of 10,000 products.

    python serve.py --tessera BIN --mesh DEMO_DIR --results DIR [--reps N] [--scale S]
                    [--parts fetch,pg,load,catalog] [--pg-rows N] [--duration S]
                    [--clients N] [--products N] [--catalog-duration S]

Parts (all by default):

fetch    The whole `web.events` port (9,990,001 rows at scale 10) into a pyarrow Table:
         over Arrow Flight SQL with ADBC (`cursor.fetch_arrow_table()`), over Flight with
         pyarrow.flight (GetFlightInfo + DoGet, the Flight SQL command by hand), and over
         HTTP as an Arrow IPC stream (`format: arrow`), against pyarrow reading the same
         Delta version's Parquet files locally (`pyarrow.dataset` over delta-rs'
         `file_uris()`; opening the Delta log is timed too). Headline: the web domain's
         owner (sam.okafor@example.com, purpose analytics), who sees the port unmasked and
         unfiltered. Governed cases beside it: priya.shah@example.com for `modelling` (a
         consent purpose: only events of customers who consented) on web.events, and
         ben.carter@example.com for `analytics` on crm.customers (names, e-mails and phones
         hashed, rows of his markets only) against the local read of the whole table.
fetch    One warm-up of each side, then N alternating runs (L A F H L A F H …), in this
         process; every result's rows and a checksum (sums of the integer columns) are
         compared with the local read's. The server's peak RSS is read per fetch (its
         VmHWM, reset before each through /proc/<pid>/clear_refs).
pg       `SELECT * FROM web.events WHERE event_id <= N` (999,000 rows at scale 10 with the
         default --pg-rows 1000000; --pg-rows 0 fetches every row) with psycopg
         `cursor.fetchall()`, from Tessera's PostgreSQL wire and from a real PostgreSQL
         server holding the same rows (a throwaway cluster on 127.0.0.1:54339 started
         with scripts/pg-test-server, the port's Parquet files loaded once with COPY and
         kept between runs), in text (psycopg's default) and binary results. Alternating,
         one warm-up each; the rows of both are compared.
load     --clients (16) concurrent client processes for --duration (30 s): a third each
         HTTP (JSON), psycopg and ADBC, each with one connection, each as one of three
         principals in turn (the crm owner, the DACH analyst — masks and a row filter on
         crm.customers — and the data scientist under a consent purpose), sending small
         queries one after another: point lookups on crm.customers, aggregates over
         crm.customers and ads.daily_spend, and (HTTP) GET /api/v1/products. Throughput,
         p50/p99 latency per protocol and query kind, errors, and the server's peak RSS and
         CPU time over the run (sampled every second).
catalog  A synthetic mesh of --products (10,000) products in 100 domains, generated from
         `tessera init` + `tessera new product` templates (kept between runs), served
         over HTTP only; wrk (C, keep-alive, 2 threads) with 16 connections for
         --catalog-duration (20 s) on GET /api/v1/search?q=… (500 queries in turn) and
         GET /api/v1/products/{domain}/{product} (every product in turn), then the same at
         1 connection (latency without queueing). Target: p99 < 10 ms.

The served mesh is a copy of the demo mesh's files (`<DEMO_DIR>-serve/mesh/`, made fresh
every run): domains/ from DEMO_DIR, policies/ and the governance settings (purposes,
masking, consent) of examples/marketing, storage.root the demo's published Delta tables
(absolute: nothing is copied or published), its own catalog, and `query.max_rows:
100000000` (the default 100,000 would cap the fetch). Tokens are made with `tessera token
create` for each principal.

Writes to DIR: serve-report.txt, serve-results.json, serve-server-*.log (the servers'
logs), serve-wrk-*.txt (wrk's output).
"""

import argparse
import base64
import gc
import http.client
import json
import multiprocessing as mp
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEMO = REPO / "examples" / "marketing"
GOVERNANCE_KEYS = ("purposes", "masking", "consent")
MAX_ROWS = 100_000_000
FETCH_TARGET = 1.5  # Flight SQL fetch at most 1.5x the local Parquet read
CATALOG_P99_MS = 10.0
PG_PORT = int(os.environ.get("TESSERA_BENCH_PG_PORT", "54339"))

OWNER = ("sam.okafor@example.com", "analytics")  # owns web: every column, every row
CRM_OWNER = ("ana.ruiz@example.com", "analytics")  # owns crm
ANALYST = ("ben.carter@example.com", "analytics")  # DACH analyst: masks + market row filter
SCIENTIST = ("priya.shah@example.com", "modelling")  # consent purpose; no direct identifiers
PRINCIPALS = [OWNER, CRM_OWNER, ANALYST, SCIENTIST]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- the served mesh ----------------------------------------------------------------------


def make_mesh(demo: Path, work: Path, http_port: int, pg_port: int, flight_port: int) -> tuple[Path, Path]:
    """A fresh copy of the demo mesh's files: examples/marketing's governance, the demo's
    published data, its own catalog, no row cap. Returns (mesh root, data folder)."""
    source = yaml.safe_load((demo / "mesh.yaml").read_text())
    storage = (source.get("storage") or {}).get("root", "./.tessera/data")
    if "://" in storage:
        sys.exit(f"serve bench: {demo}/mesh.yaml keeps its data at {storage}; this harness needs a local folder")
    data = (demo / storage).resolve()
    if not data.is_dir():
        sys.exit(f"serve bench: no published data at {data}: run `tessera demo` first (bench/run does)")
    governed = yaml.safe_load((DEMO / "mesh.yaml").read_text())
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(demo / "domains", work / "domains")
    shutil.copytree(DEMO / "policies", work / "policies")
    config = {k: v for k, v in source.items() if k not in GOVERNANCE_KEYS}
    config["storage"] = {**(source.get("storage") or {}), "root": str(data)}
    config["catalog"] = {"url": "sqlite://.tessera/catalog.db"}
    config["server"] = {
        "http": f"127.0.0.1:{http_port}",
        "pg": f"127.0.0.1:{pg_port}",
        "flight": f"127.0.0.1:{flight_port}",
    }
    config["query"] = {**(source.get("query") or {}), "max_rows": MAX_ROWS}
    for k in GOVERNANCE_KEYS:
        if k in governed:
            config[k] = governed[k]
    header = (
        f"# A copy of {demo}/mesh.yaml made by bench/serve.py: the same published data\n"
        f"# (storage.root), its own catalog, the governance of examples/marketing, no row cap.\n"
    )
    (work / "mesh.yaml").write_text(header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return work, data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_token(tessera: str, mesh: Path, principal: str) -> str:
    p = subprocess.run(
        [tessera, "token", "create", "--mesh", str(mesh), "--principal", principal, "--format", "json",
         "--note", "bench/serve.py"],
        capture_output=True, text=True,
    )
    if p.returncode != 0:
        raise RuntimeError(f"tessera token create --principal {principal} failed (exit {p.returncode}):\n{p.stderr}")
    return json.loads(p.stdout)["token"]


class Server:
    """A `tessera serve` process, its readiness and its memory."""

    def __init__(self, tessera: str, mesh: Path, log_path: Path, http: int, pg: int | None, flight: int | None):
        self.http = http
        args = [tessera, "serve", "--mesh", str(mesh), "--http", f"127.0.0.1:{http}",
                "--pg", f"127.0.0.1:{pg}" if pg else "off", "--flight", f"127.0.0.1:{flight}" if flight else "off"]
        self.log_file = open(log_path, "wb")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(args, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     env={**os.environ, "NO_COLOR": "1"})
        self.pid = self.proc.pid
        deadline = time.time() + 600
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tessera serve exited ({self.proc.returncode}); log: {log_path}\n"
                                   + log_path.read_text(errors="replace")[-3000:])
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http}/api/v1/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except Exception:
                pass
            if time.time() > deadline:
                self.stop()
                raise RuntimeError(f"tessera serve was not ready after 600 s; log: {log_path}")
            time.sleep(0.1)
        self.ready_s = time.perf_counter() - t0

    def status(self) -> dict:
        out = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads"):
                out[k] = int(v.split()[0])
        return out

    def rss_mib(self) -> float:
        return round(self.status()["VmRSS"] / 1024, 1)

    def peak_mib(self) -> float:
        return round(self.status()["VmHWM"] / 1024, 1)

    def reset_peak(self) -> bool:
        """Resets VmHWM to the current RSS (Linux: `echo 5 > /proc/<pid>/clear_refs`)."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            return True
        except OSError:
            return False

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()


# --- clients ------------------------------------------------------------------------------


def adbc_connect(port: int, principal: str, token: str, purpose: str):
    import adbc_driver_flightsql.dbapi as flightsql

    return flightsql.connect(
        f"grpc://127.0.0.1:{port}",
        db_kwargs={"username": principal, "password": token,
                   "adbc.flight.sql.rpc.call_header.tessera-purpose": purpose},
        autocommit=True,
    )


def pg_connect(port: int, principal: str, token: str, purpose: str):
    import psycopg

    return psycopg.connect(host="127.0.0.1", port=port, user=principal, password=token, dbname="mesh",
                           options=f"-c tessera.purpose={purpose}", autocommit=True)


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        if not n:
            return out + bytes([b])
        out += bytes([b | 0x80])


def _field(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def flight_statement(sql: str):
    """A Flight SQL CommandStatementQuery descriptor, by hand (pyarrow.flight speaks Flight)."""
    import pyarrow.flight as flight

    url = b"type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"
    return flight.FlightDescriptor.for_command(_field(1, url) + _field(2, _field(1, sql.encode())))


class Http:
    """One keep-alive HTTP connection."""

    def __init__(self, port: int, token: str, purpose: str | None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        if purpose:
            self.headers["Tessera-Purpose"] = purpose

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=self.headers)
        r = self.conn.getresponse()
        return r.status, r.read()

    def query(self, sql: str, fmt: str = "json") -> tuple[int, bytes]:
        return self.request("POST", "/api/v1/query", {"sql": sql, "format": fmt})


# --- 1. fetch -----------------------------------------------------------------------------


def delta_files(table_dir: Path) -> tuple[int, list[str]]:
    from deltalake import DeltaTable

    dt = DeltaTable(str(table_dir))
    return dt.version(), [u.removeprefix("file://") for u in dt.file_uris()]


def local_read(table_dir: Path) -> pa.Table:
    _, files = delta_files(table_dir)
    return ds.dataset(files, format="parquet").to_table()


def digest(t: pa.Table) -> dict:
    """Rows, and per integer column its sum and non-null count: cheap, and order-free."""
    out = {"rows": t.num_rows}
    for f in t.schema:
        if pa.types.is_integer(f.type):
            col = t.column(f.name)
            out[f.name] = [pc.sum(col).as_py(), t.num_rows - col.null_count]
        elif pa.types.is_timestamp(f.type) or pa.types.is_date(f.type):
            col = t.column(f.name)
            # date32 casts only to int32 (days); timestamps and date64 to int64
            ints = col.cast(pa.int32()).cast(pa.int64()) if pa.types.is_date32(f.type) else col.cast(pa.int64())
            out[f.name] = [pc.sum(ints).as_py(), t.num_rows - col.null_count]
        else:
            col = t.column(f.name)
            out[f.name] = [None, t.num_rows - col.null_count]
    return out


def timed(fn):
    gc.collect()
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def part_fetch(a, server: Server, tokens: dict, data: Path, ports: dict, out: dict) -> None:
    """The whole port into pyarrow: Flight SQL (ADBC, pyarrow.flight), HTTP Arrow, vs local."""
    import pyarrow.flight as flight
    import pyarrow.ipc as ipc

    flight_port, http_port = ports["flight"], server.http

    def adbc_fetch(who, sql):
        def run():
            with adbc_connect(flight_port, who[0], tokens[who[0]], who[1]) as conn:
                with conn.cursor() as cur:
                    cur.execute(sql)
                    return cur.fetch_arrow_table()
        return run

    def pyarrow_fetch(who, sql):
        def run():
            client = flight.FlightClient(f"grpc://127.0.0.1:{flight_port}")
            options = flight.FlightCallOptions(headers=[
                (b"authorization", b"Bearer " + tokens[who[0]].encode()),
                (b"tessera-purpose", who[1].encode())])
            info = client.get_flight_info(flight_statement(sql), options)
            tables = [client.do_get(e.ticket, options).read_all() for e in info.endpoints]
            client.close()
            return pa.concat_tables(tables) if len(tables) != 1 else tables[0]
        return run

    def http_fetch(who, sql):
        def run():
            h = Http(http_port, tokens[who[0]], who[1])
            status, body = h.query(sql, "arrow")
            h.conn.close()
            if status != 200:
                raise RuntimeError(f"HTTP {status}: {body[:500]!r}")
            return ipc.open_stream(pa.py_buffer(body)).read_all()
        return run

    cases = [
        {
            "name": "web.events, owner (no masks, no filters)",
            "port": "web.events", "dir": data / "web" / "events" / "events", "who": OWNER,
            "sides": ["adbc", "pyarrow.flight", "http arrow"], "headline": True,
        },
        {
            "name": "web.events, data scientist for modelling (consent filter)",
            "port": "web.events", "dir": data / "web" / "events" / "events", "who": SCIENTIST,
            "sides": ["adbc"], "headline": False,
        },
        {
            "name": "crm.customers, DACH analyst (3 columns hashed, market row filter)",
            "port": "crm.customers", "dir": data / "crm" / "customers" / "customers", "who": ANALYST,
            "sides": ["adbc"], "headline": False,
        },
    ]
    makers = {"adbc": adbc_fetch, "pyarrow.flight": pyarrow_fetch, "http arrow": http_fetch}
    out["fetch"] = []
    for case in cases:
        version, files = delta_files(case["dir"])
        sql = f"SELECT * FROM {case['port']}"
        log(f"fetch: {case['name']}: Delta v{version}, {len(files)} file(s); warm-up …")
        sides = {"local pyarrow": lambda d=case["dir"]: local_read(d)}
        for s in case["sides"]:
            sides[s] = makers[s](case["who"], sql)
        runs = {s: [] for s in sides}
        digests = {}
        for rep in range(a.reps + 1):  # rep 0: the warm-up
            for s, fn in sides.items():
                server.reset_peak()
                cpu0 = server.cpu_s()
                wall, table = timed(fn)
                cpu = server.cpu_s() - cpu0
                peak = server.peak_mib()
                d = digest(table)
                digests.setdefault(s, d)
                if d != digests[s]:
                    digests[s] = {"MISMATCH across runs": [digests[s], d]}
                del table
                if rep:
                    runs[s].append({"s": round(wall, 4), "server_cpu_s": round(cpu, 2), "server_peak_mib": peak})
                    log(f"fetch: {case['name']}: {rep}/{a.reps}: {s} {wall:.3f}s "
                        f"(server CPU {cpu:.1f}s, peak RSS {peak:,.0f} MiB)")
        local = digests["local pyarrow"]
        res = {"case": case["name"], "sql": sql, "principal": case["who"][0], "purpose": case["who"][1],
               "delta_version": version, "headline": case["headline"], "sides": {}}
        for s, rs in runs.items():
            xs = [r["s"] for r in rs]
            d = digests[s]
            if s == "local pyarrow":
                check = "reference"
            elif case["who"] == OWNER:
                check = "same" if d == local else f"MISMATCH: {d} vs local {local}"
            else:
                check = f"{d['rows']:,} of {local['rows']:,} rows (governed)"
            res["sides"][s] = {
                "median": round(statistics.median(xs), 4), "best": round(min(xs), 4),
                "server_cpu_s": statistics.median(r["server_cpu_s"] for r in rs),
                "server_peak_mib": max(r["server_peak_mib"] for r in rs),
                "rows": d.get("rows"), "check": check, "runs": rs,
            }
        base = res["sides"]["local pyarrow"]["median"]
        for s, v in res["sides"].items():
            v["ratio"] = round(v["median"] / base, 3) if base else None
        out["fetch"].append(res)


# --- 2. PostgreSQL wire vs PostgreSQL -----------------------------------------------------


PG_TYPES = {
    "int64": "bigint", "int32": "integer", "int16": "smallint", "string": "text", "large_string": "text",
    "bool": "boolean", "double": "double precision", "float": "real", "date32[day]": "date",
}


def pg_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    if pa.types.is_decimal(t):
        return f"numeric({t.precision},{t.scale})"
    return PG_TYPES[str(t)]


def pg_server() -> str:
    """Starts (or reuses) the bench's throwaway PostgreSQL; returns its conninfo."""
    p = subprocess.run([str(REPO / "scripts" / "pg-test-server"), "start"], capture_output=True, text=True,
                       env={**os.environ, "TESSERA_PG_PORT": str(PG_PORT)})
    if p.returncode != 0:
        raise RuntimeError(f"scripts/pg-test-server start failed:\n{p.stdout}{p.stderr}")
    log(p.stdout.strip())
    return f"host=127.0.0.1 port={PG_PORT} user=postgres dbname=postgres"


def pg_load(conninfo: str, table_dir: Path) -> dict:
    """web.events in PostgreSQL, the same rows as the Delta version; loaded once, kept."""
    import psycopg
    import pyarrow.csv as pacsv

    version, files = delta_files(table_dir)
    dataset = ds.dataset(files, format="parquet")
    rows = dataset.count_rows()
    marker = f"{table_dir} v{version} {rows} rows"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        have = conn.execute(
            "SELECT obj_description(c.oid, 'pg_class') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'web' AND c.relname = 'events'").fetchone()
        if have and have[0] == marker:
            log(f"pg: reusing web.events in PostgreSQL ({marker})")
            return {"loaded": False, "marker": marker}
        log(f"pg: loading {rows:,} rows into PostgreSQL web.events (COPY, once) …")
        t0 = time.perf_counter()
        conn.execute("DROP SCHEMA IF EXISTS web CASCADE")
        conn.execute("CREATE SCHEMA web")
        cols = ", ".join(f'"{f.name}" {pg_type(f.type)}' for f in dataset.schema)
        conn.execute(f"CREATE UNLOGGED TABLE web.events ({cols})")
        options = pacsv.WriteOptions(include_header=False)
        with conn.cursor() as cur:
            with cur.copy("COPY web.events FROM STDIN (FORMAT csv)") as copy:
                for batch in dataset.to_batches(batch_size=200_000):
                    sink = pa.BufferOutputStream()
                    pacsv.write_csv(pa.Table.from_batches([batch]), sink, options)
                    copy.write(sink.getvalue().to_pybytes())
        conn.execute("ANALYZE web.events")
        conn.execute(f"COMMENT ON TABLE web.events IS '{marker}'")
        n = conn.execute("SELECT count(*) FROM web.events").fetchone()[0]
        if n != rows:
            raise RuntimeError(f"PostgreSQL web.events has {n} rows after COPY; expected {rows}")
        secs = time.perf_counter() - t0
        log(f"pg: loaded in {secs:.0f}s")
        return {"loaded": True, "marker": marker, "load_s": round(secs, 1)}


def norm(v):
    if isinstance(v, datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=timezone.utc)
        return v.astimezone(timezone.utc).isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    return v


def part_pg(a, server: Server, tokens: dict, data: Path, ports: dict, out: dict) -> None:
    import psycopg

    table_dir = data / "web" / "events" / "events"
    conninfo = pg_server()
    load = pg_load(conninfo, table_dir)
    where = f" WHERE event_id <= {a.pg_rows}" if a.pg_rows else ""
    sql = f"SELECT * FROM web.events{where}"
    who = OWNER

    def fetch(side: str, binary: bool):
        def run():
            if side == "tessera":
                conn = pg_connect(ports["pg"], who[0], tokens[who[0]], who[1])
            else:
                conn = psycopg.connect(conninfo, autocommit=True)
            with conn:
                with conn.cursor(binary=binary) as cur:
                    cur.execute(sql)
                    return cur.fetchall()
        return run

    sides = [("tessera", False), ("postgresql", False), ("tessera", True), ("postgresql", True)]
    runs = {s: [] for s in sides}
    first = {}
    log(f"pg: {sql} — warm-up …")
    for rep in range(a.reps + 1):
        for s in sides:
            server.reset_peak()
            cpu0 = server.cpu_s()
            wall, rows = timed(fetch(*s))
            cpu = server.cpu_s() - cpu0
            if rep == 0:
                rows.sort(key=lambda r: r[0])
                first[s] = [tuple(norm(v) for v in r) for r in rows]
            n = len(rows)
            del rows
            if rep:
                runs[s].append({"s": round(wall, 4), "rows": n, "tessera_cpu_s": round(cpu, 2),
                                "tessera_peak_mib": server.peak_mib()})
                log(f"pg: {rep}/{a.reps}: {s[0]} ({'binary' if s[1] else 'text'}) {wall:.3f}s, {n:,} rows")
    checks = {}
    for binary in (False, True):
        t, p = first[("tessera", binary)], first[("postgresql", binary)]
        if t == p:
            checks[binary] = "same"
        else:
            diff = next((i for i, (x, y) in enumerate(zip(t, p)) if x != y), min(len(t), len(p)))
            checks[binary] = (f"MISMATCH: {len(t)} vs {len(p)} rows; first difference at row {diff}: "
                              f"{t[diff] if diff < len(t) else None} vs {p[diff] if diff < len(p) else None}")
    del first
    res = {"sql": sql, "principal": who[0], "purpose": who[1], "load": load, "formats": {}}
    for binary in (False, True):
        fmt = "binary" if binary else "text"
        t = [r["s"] for r in runs[("tessera", binary)]]
        p = [r["s"] for r in runs[("postgresql", binary)]]
        res["formats"][fmt] = {
            "rows": runs[("tessera", binary)][0]["rows"],
            "tessera": {"median": round(statistics.median(t), 4), "best": round(min(t), 4),
                        "server_cpu_s": statistics.median(r["tessera_cpu_s"] for r in runs[("tessera", binary)]),
                        "server_peak_mib": max(r["tessera_peak_mib"] for r in runs[("tessera", binary)]),
                        "runs": runs[("tessera", binary)]},
            "postgresql": {"median": round(statistics.median(p), 4), "best": round(min(p), 4),
                           "runs": runs[("postgresql", binary)]},
            "ratio": round(statistics.median(t) / statistics.median(p), 3),
            "check": checks[binary],
        }
    with psycopg.connect(conninfo, autocommit=True) as conn:
        res["postgresql_version"] = conn.execute("SHOW server_version").fetchone()[0]
    out["pg"] = res


# --- 3. mixed load --------------------------------------------------------------------------


def load_queries(customers: int) -> dict:
    """Small queries of the load test, by kind; every principal may run each."""
    return {
        "point": lambda rng: f"SELECT * FROM crm.customers WHERE customer_id = {rng.randint(1, customers)}",
        "agg customers": lambda rng: "SELECT country, count(*) AS customers FROM crm.customers "
                                     "GROUP BY country ORDER BY country",
        "agg spend": lambda rng: "SELECT channel, count(*) AS days, sum(clicks) AS clicks, "
                                 "sum(impressions) AS impressions FROM ads.daily_spend GROUP BY channel ORDER BY channel",
    }


MIX = [("point", 0.45), ("agg customers", 0.2), ("agg spend", 0.25), ("catalog", 0.10)]


def load_worker(spec: dict, ready, go, start_at, results) -> None:
    """One client: connects, waits for the start, runs small queries until the end."""
    proto, who, token = spec["proto"], spec["who"], spec["token"]
    rng = random.Random(spec["seed"])
    queries = load_queries(spec["customers"])
    mix = [(k, w) for k, w in MIX if k != "catalog" or proto == "http"]
    kinds, weights = [k for k, _ in mix], [w for _, w in mix]
    records, errors = [], []
    try:
        if proto == "http":
            client = Http(spec["port"], token, who[1])

            def run(kind, sql):
                if kind == "catalog":
                    status, body = client.request("GET", "/api/v1/products?limit=20")
                else:
                    status, body = client.query(sql)
                if status != 200:
                    raise RuntimeError(f"HTTP {status}: {body[:300]!r}")
                doc = json.loads(body)
                if "error" in doc:
                    raise RuntimeError(f"HTTP 200 with an error: {doc['error']}")
                return len(doc.get("rows") or doc.get("products") or [])
        elif proto == "pg":
            conn = pg_connect(spec["port"], who[0], token, who[1])

            def run(kind, sql):
                with conn.cursor() as cur:
                    cur.execute(sql)
                    return len(cur.fetchall())
        else:
            conn = adbc_connect(spec["port"], who[0], token, who[1])
            cur = conn.cursor()

            def run(kind, sql):
                cur.execute(sql)
                return cur.fetch_arrow_table().num_rows
        # One query to open the session before the clock starts (connect + first session).
        run("agg spend", queries["agg spend"](rng))
    except Exception as e:  # a client that cannot start is an error of the run
        results.put({"client": spec["client"], "proto": proto, "records": [], "errors": [f"connect: {e}"]})
        ready.release()
        return
    ready.release()
    go.wait()
    t_start = start_at.value
    t_stop = t_start + spec["duration"]
    while True:
        now = time.time()
        if now >= t_stop:
            break
        kind = rng.choices(kinds, weights)[0]
        sql = queries[kind](rng) if kind != "catalog" else None
        t0 = time.perf_counter()
        err = None
        try:
            run(kind, sql)
        except Exception as e:
            err = f"{type(e).__name__}: {str(e)[:300]}"
            if proto == "pg":  # a broken connection: reconnect, counted as the error it was
                try:
                    conn.close()
                    conn = pg_connect(spec["port"], who[0], token, who[1])
                except Exception:
                    pass
        dt = time.perf_counter() - t0
        records.append((kind, round(now - t_start, 4), round(dt, 6), err is not None))
        if err and len(errors) < 20:
            errors.append(f"{kind}: {err}")
    results.put({"client": spec["client"], "proto": proto, "principal": who[0], "records": records, "errors": errors})


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def part_load(a, server: Server, tokens: dict, data: Path, ports: dict, out: dict) -> None:
    from deltalake import DeltaTable

    customers = DeltaTable(str(data / "crm" / "customers" / "customers")).to_pyarrow_dataset().count_rows()
    protos = ["http", "pg", "flight"]
    whos = [CRM_OWNER, ANALYST, SCIENTIST]
    specs = []
    for i in range(a.clients):
        proto = protos[i % 3]
        who = whos[(i // 3) % 3]
        port = server.http if proto == "http" else ports[proto]
        specs.append({"client": i, "proto": proto, "who": who, "token": tokens[who[0]], "port": port,
                      "seed": 1000 + i, "duration": a.duration, "customers": customers})
    ctx = mp.get_context("spawn")
    ready, go = ctx.Semaphore(0), ctx.Event()
    start_at = ctx.Value("d", 0.0)
    results = ctx.Queue()
    procs = [ctx.Process(target=load_worker, args=(s, ready, go, start_at, results), daemon=True) for s in specs]
    by_proto = {p: sum(1 for s in specs if s["proto"] == p) for p in protos}
    log(f"load: starting {a.clients} clients ({', '.join(f'{n} {p}' for p, n in by_proto.items())}) …")
    for p in procs:
        p.start()
    for _ in procs:
        if not ready.acquire(timeout=300):
            raise RuntimeError("load: a client did not connect within 300 s")
    time.sleep(1)
    rss_before = server.rss_mib()
    server.reset_peak()
    cpu0 = server.cpu_s()
    samples = []
    start_at.value = time.time() + 0.5
    go.set()
    log(f"load: running for {a.duration} s …")
    end = start_at.value + a.duration
    while time.time() < end + 1:
        time.sleep(1)
        samples.append({"t": round(time.time() - start_at.value, 1), "rss_mib": server.rss_mib()})
    got = []
    deadline = time.time() + 600
    while len(got) < len(procs) and time.time() < deadline:
        try:
            got.append(results.get(timeout=5))
        except Exception:
            if all(not p.is_alive() for p in procs) and results.empty():
                break
    for p in procs:
        p.join(timeout=30)
    cpu = server.cpu_s() - cpu0
    peak = server.peak_mib()
    time.sleep(3)
    rss_after = server.rss_mib()
    recs = [(g["proto"], *r) for g in got for r in g["records"] if r[1] <= a.duration]
    errors = [f"client {g['client']} ({g['proto']}): {e}" for g in got for e in g["errors"]]
    n_errors = sum(1 for r in recs if r[4]) + sum(1 for g in got for e in g["errors"] if e.startswith("connect:"))
    missing = len(procs) - len(got)

    def stats(rows):
        lat = [r[3] * 1000 for r in rows if not r[4]]
        return {"requests": len(rows), "errors": sum(1 for r in rows if r[4]),
                "per_s": round(len(rows) / a.duration, 1),
                "p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2),
                "max_ms": round(max(lat), 1) if lat else None}

    res = {"clients": a.clients, "duration_s": a.duration,
           "clients_by_protocol": {p: sum(1 for s in specs if s["proto"] == p) for p in protos},
           "principals": [f"{w[0]} ({w[1]})" for w in whos], "mix": dict(MIX),
           "total": stats(recs), "by_protocol": {p: stats([r for r in recs if r[0] == p]) for p in protos},
           "by_kind": {}, "errors": n_errors, "error_samples": errors[:30], "clients_lost": missing,
           "server": {"rss_before_mib": rss_before, "peak_mib": peak, "rss_after_mib": rss_after,
                      "cpu_s": round(cpu, 1), "cpu_per_wall": round(cpu / a.duration, 2), "rss_samples": samples}}
    for p in protos:
        for k, _ in MIX:
            rows = [r for r in recs if r[0] == p and r[1] == k]
            if rows:
                res["by_kind"][f"{p} {k}"] = stats(rows)
    out["load"] = res
    t = res["total"]
    log(f"load: {t['requests']:,} requests ({t['per_s']}/s), {n_errors} errors, server peak {peak:,.0f} MiB")


# --- 4. catalog API at 10k products ---------------------------------------------------------


AREAS = ["sales", "finance", "logistics", "marketing", "support", "billing", "inventory", "hr",
         "procurement", "risk", "payments", "fraud", "pricing", "loyalty", "product", "growth",
         "security", "legal", "partners", "research"]
REGIONS = ["emea", "amer", "apac", "latam", "nordics"]
NOUNS = ["customers", "orders", "invoices", "shipments", "campaigns", "sessions", "refunds", "payments",
         "tickets", "accounts", "subscriptions", "products", "suppliers", "contracts", "leads", "returns",
         "transactions", "claims", "employees", "devices", "stores", "coupons", "reviews", "visits", "quotes"]
QUALIFIERS = ["daily", "weekly", "monthly", "by_region", "by_channel", "by_segment", "latest",
              "history", "summary", "snapshot", "forecast", "scored"]
WORDS = ["revenue", "churn", "lifetime", "value", "margin", "conversion", "retention", "cohort",
         "funnel", "attribution", "spend", "budget", "quota", "backlog", "latency", "delivery",
         "warehouse", "carrier", "currency", "tax", "discount", "basket", "loyalty", "tier", "region",
         "country", "channel", "partner", "risk", "score", "forecast", "anomaly", "compliance", "audit",
         "gdpr", "consent", "identity", "household", "segment", "persona", "campaign", "creative",
         "impression", "click", "session", "device", "browser", "store", "inventory", "stock", "supplier"]
TAGS = ["pii", "finance", "gold", "silver", "bronze", "realtime", "batch", "kpi", "ml", "experimental",
        "certified", "deprecated-soon", "regulatory", "self-serve", "core"]
COLUMNS = ["customer_id", "order_id", "amount_eur", "currency", "country", "region", "channel", "segment",
           "created_at", "updated_at", "status", "score", "revenue_eur", "margin_eur", "quantity", "sku",
           "store_id", "device", "campaign_id", "partner_id", "tier", "churn_probability", "email_domain",
           "postal_code", "week_start", "month", "is_active", "source_system", "carrier", "warehouse_id"]
SYNTH_VERSION = "2"  # bump when the generator changes: the mesh is regenerated


def generate_catalog_mesh(tessera: str, root: Path, products: int) -> dict:
    """A mesh of `products` products in 100 domains (20 areas x 5 regions), made from the
    templates of `tessera init` and `tessera new product`, with varied names, descriptions,
    tags and columns for search. Kept between runs (a stamp file says what it holds)."""
    stamp = root / ".bench-synth"
    want = f"{SYNTH_VERSION} {products}"
    if stamp.is_file() and stamp.read_text() == want:
        log(f"catalog: reusing the synthetic mesh of {products:,} products in {root}")
        return json.loads((root / ".bench-synth.json").read_text())
    log(f"catalog: generating a mesh of {products:,} products in {root} …")
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([tessera, "init", str(root)], check=True, capture_output=True)
    subprocess.run([tessera, "new", "product", "tmpldomain/tmplproduct", "--input", "crm.sources.raw_customers",
                    "--mesh", str(root)], check=True, capture_output=True)
    tdir = root / "domains" / "tmpldomain"
    domain_t = yaml.safe_load((tdir / "domain.yaml").read_text())
    product_t = yaml.safe_load((tdir / "tmplproduct" / "dataproduct.yaml").read_text())
    contract_t = yaml.safe_load((tdir / "tmplproduct" / "tmplproduct.odcs.yaml").read_text())
    sql_t = (tdir / "tmplproduct" / "tmplproduct.sql").read_text()
    shutil.rmtree(tdir)
    base_cols = [p["name"] for p in contract_t["schema"][0]["properties"]]  # id, name
    source = re.search(r"^FROM\s+(\S+)", sql_t, flags=re.M).group(1)  # the template's input
    rng = random.Random(42)
    domains = [f"{a}_{r}" for a in AREAS for r in REGIONS]
    per = -(-products // len(domains))
    names = [f"{n}_{q}" for n in NOUNS for q in QUALIFIERS]
    made = []
    for d in domains:
        if len(made) >= products:
            break
        area, region = d.rsplit("_", 1)
        ddir = root / "domains" / d
        ddir.mkdir(parents=True)
        dom = json.loads(json.dumps(domain_t))
        dom["name"] = d
        dom["description"] = f"The {area} domain for {region.upper()}."
        dom["team"]["name"] = f"{area} {region} team"
        (ddir / "domain.yaml").write_text(yaml.safe_dump(dom, sort_keys=False))
        for pname in rng.sample(names, min(per, len(names), products - len(made))):
            title = pname.replace("_", " ").capitalize()
            words = " ".join(rng.sample(WORDS, rng.randint(6, 14)))
            tags = sorted(rng.sample(TAGS, rng.randint(1, 3)))
            cols = rng.sample(COLUMNS, rng.randint(3, 8))
            pdir = ddir / pname
            pdir.mkdir()
            prod = json.loads(json.dumps(product_t))
            prod.update({"id": f"{d}.{pname}", "name": title, "domain": d, "tags": tags})
            prod["description"] = {
                "purpose": f"{title} of the {area} team in {region.upper()}: {words}.",
                "usage": f"Query it as {d}.{pname}.",
            }
            prod["outputPorts"][0].update({"name": pname, "contractId": f"{d}.{pname}.{pname}"})
            prod["team"]["name"] = f"{area} {region} team"
            (pdir / "dataproduct.yaml").write_text(yaml.safe_dump(prod, sort_keys=False))
            con = json.loads(json.dumps(contract_t))
            con.update({"id": f"{d}.{pname}.{pname}", "name": title, "domain": d, "dataProduct": pname})
            con["description"] = {"purpose": f"One row per {pname.split('_')[0]} record ({words.split()[0]})."}
            schema = con["schema"][0]
            schema["name"] = pname
            schema["description"] = f"One row per {pname} record."
            for c in cols:
                schema["properties"].append({"name": c, "logicalType": "string",
                                             "description": f"The {c.replace('_', ' ')} ({rng.choice(WORDS)})."})
            con["team"]["name"] = f"{area} {region} team"
            (pdir / f"{pname}.odcs.yaml").write_text(yaml.safe_dump(con, sort_keys=False))
            select = ",\n    ".join(base_cols + [f"CAST(name AS VARCHAR) AS {c}" for c in cols])
            comment = "".join(l + "\n" for l in sql_t.splitlines() if l.startswith("--"))
            comment = comment.replace("tmpldomain", d).replace("tmplproduct", pname)
            (pdir / f"{pname}.sql").write_text(f"{comment}SELECT\n    {select}\nFROM {source}\n")
            made.append((d, pname))
    t0 = time.perf_counter()
    p = subprocess.run([tessera, "validate", str(root)], capture_output=True, text=True)
    validate_s = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"tessera validate of the synthetic mesh failed:\n{(p.stdout + p.stderr)[-4000:]}")
    info = {"products": len(made), "domains": len({d for d, _ in made}), "validate_s": round(validate_s, 2),
            "validate": p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""}
    (root / ".bench-synth.json").write_text(json.dumps({**info, "paths": made}))
    stamp.write_text(want)
    log(f"catalog: {info['validate']} ({validate_s:.1f}s)")
    return {**info, "paths": made}


def search_queries(rng: random.Random, paths: list) -> list[str]:
    qs = []
    for _ in range(500):
        r = rng.random()
        if r < 0.3:
            qs.append(rng.choice(NOUNS + WORDS))
        elif r < 0.5:
            qs.append(" ".join(rng.sample(WORDS + NOUNS, 2)))
        elif r < 0.65:
            qs.append(rng.choice(paths)[1])  # an exact product name
        elif r < 0.8:
            w = rng.choice(NOUNS + WORDS)
            qs.append(w[: max(3, len(w) // 2)])  # a prefix
        elif r < 0.9:
            qs.append(rng.choice(COLUMNS))
        else:
            qs.append(f"{rng.choice(AREAS)} {rng.choice(QUALIFIERS).replace('_', ' ')} {rng.choice(TAGS)}")
    return [urllib.request.quote(q) for q in qs]


WRK_LINE = re.compile(r"^\s*(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$")


def to_ms(v: str, unit: str) -> float:
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(port: int, token: str, paths: list[str], connections: int, duration: int, out_file: Path) -> dict:
    script = out_file.with_suffix(".lua")
    lua_paths = ",\n".join(json.dumps(p) for p in paths)
    script.write_text(
        "-- written by bench/serve.py: GET each path in turn, with the bearer token\n"
        f"local paths = {{\n{lua_paths}\n}}\n"
        "local n = #paths\n"
        "local i = 0\n"
        "init = function(args) i = math.random(n) end\n"
        "request = function()\n"
        "  i = i % n + 1\n"
        f"  return wrk.format('GET', paths[i], {{['Authorization'] = 'Bearer {token}'}})\n"
        "end\n"
    )
    threads = min(2, connections)
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s",
           "-s", str(script), f"http://127.0.0.1:{port}"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    out_file.write_text(" ".join(cmd) + "\n\n" + p.stdout + p.stderr)
    if p.returncode != 0:
        raise RuntimeError(f"wrk failed:\n{p.stdout}{p.stderr}")
    res = {"connections": connections, "threads": threads, "duration_s": duration}
    for line in p.stdout.splitlines():
        m = WRK_LINE.match(line)
        if m:
            res[f"p{m.group(1)}_ms"] = round(to_ms(m.group(2), m.group(3)), 3)
        elif line.strip().startswith("Requests/sec:"):
            res["per_s"] = float(line.split()[1])
        elif "requests in" in line:
            res["requests"] = int(line.split()[0])
        elif line.strip().startswith("Non-2xx"):
            res["non_2xx"] = int(line.split()[-1])
        elif line.strip().startswith("Socket errors"):
            res["socket_errors"] = line.strip()
        elif line.strip().startswith("Latency") and "Distribution" not in line:
            parts = line.split()
            res["mean_ms"] = round(to_ms(*re.match(r"([\d.]+)(us|ms|s)", parts[1]).groups()), 3)
            res["max_ms"] = round(to_ms(*re.match(r"([\d.]+)(us|ms|s)", parts[3]).groups()), 3)
    res.setdefault("non_2xx", 0)
    return res


def part_catalog(a, data_root: Path, results: Path, out: dict) -> None:
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (apt-get install -y wrk); bench/run installs it")
    synth = generate_catalog_mesh(a.tessera, data_root / f"catalog-{a.products}", a.products)
    mesh = data_root / f"catalog-{a.products}"
    token = create_token(a.tessera, mesh, "bench.catalog@example.com")
    port = free_port()
    server = Server(a.tessera, mesh, results / "serve-server-catalog.log", port, None, None)
    res = {"products": synth["products"], "domains": synth["domains"], "validate_s": synth["validate_s"],
           "server_ready_s": round(server.ready_s, 2), "server_rss_ready_mib": server.rss_mib()}
    try:
        h = Http(port, token, None)
        paths = [tuple(p) for p in synth["paths"]]
        rng = random.Random(7)
        # The first request builds the per-engine index (search, filters): timed apart.
        t0 = time.perf_counter()
        status, body = h.request("GET", "/api/v1/search?q=customers")
        res["first_search_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        if status == 404 and b"no such endpoint" in body:
            raise RuntimeError("this binary has no GET /api/v1/search")
        if status != 200:
            raise RuntimeError(f"GET /api/v1/search: HTTP {status}: {body[:500]!r}")
        doc = json.loads(body)
        res["sample_search"] = {"q": "customers", "total": doc.get("total"), "hits": len(doc.get("hits", []))}
        d, p = paths[0]
        status, body = h.request("GET", f"/api/v1/products/{d}/{p}")
        if status != 200:
            raise RuntimeError(f"GET /api/v1/products/{d}/{p}: HTTP {status}: {body[:500]!r}")
        res["product_bytes"] = len(body)
        status, body = h.request("GET", "/api/v1/products?limit=100")
        res["list_total"] = json.loads(body).get("total") if status == 200 else f"HTTP {status}"
        h.conn.close()
        searches = [f"/api/v1/search?q={q}" for q in search_queries(rng, paths)]
        products = [f"/api/v1/products/{d}/{p}" for d, p in paths]
        rng.shuffle(products)
        listing = [f"/api/v1/products?limit=100&offset={o}" for o in range(0, len(paths), 100)]
        res["endpoints"] = {}
        for name, ps in (("search", searches), ("product", products), ("products list", listing)):
            for conns in (16, 1):
                if name == "products list" and conns == 1:
                    continue
                server.reset_peak()
                cpu0 = server.cpu_s()
                log(f"catalog: wrk {name}, {conns} connection(s), {a.catalog_duration}s …")
                r = run_wrk(port, token, ps, conns, a.catalog_duration,
                            results / f"serve-wrk-{name.replace(' ', '-')}-c{conns}.txt")
                r["server_cpu_s"] = round(server.cpu_s() - cpu0, 1)
                r["server_peak_mib"] = server.peak_mib()
                r["paths"] = len(ps)
                res["endpoints"][f"{name} c{conns}"] = r
                log(f"catalog: {name} c{conns}: {r.get('per_s')} req/s, p50 {r.get('p50_ms')} ms, "
                    f"p99 {r.get('p99_ms')} ms, non-2xx {r['non_2xx']}")
        res["server_rss_end_mib"] = server.rss_mib()
    finally:
        server.stop()
    out["catalog"] = res


# --- report ---------------------------------------------------------------------------------


def fmt_s(x):
    return f"{x:.3f}" if x is not None else "—"


def report(out: dict) -> str:
    i = out["info"]
    lines = [f"# tessera serve — {i['date']}, {i['machine']}, scale {i['scale']}, {i['tessera']} ({i.get('tessera_path')})",
             f"load average at start {i['load_average_at_start']}, at end {i.get('load_average_at_end')}", ""]
    if "fetch" in out:
        lines += ["## 1. Whole port into pyarrow: Flight SQL and HTTP Arrow vs local Parquet read",
                  f"(median of {i['reps']} after a warm-up; server = tessera serve's CPU time and peak RSS during the fetch)", "",
                  "| case | side | rows | median s | best s | ratio to local | server CPU s | server peak RSS | check |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---|"]
        for c in out["fetch"]:
            for s, v in c["sides"].items():
                local = s == "local pyarrow"
                ratio = "" if local else f"**{v['ratio']:.2f}×**"
                cpu = "" if local else v["server_cpu_s"]
                peak = "" if local else f"{v['server_peak_mib']:,.0f} MiB"
                lines.append(
                    f"| {c['case']} | {s} | {v['rows']:,} | {fmt_s(v['median'])} | {fmt_s(v['best'])} | "
                    f"{ratio} | {cpu} | {peak} | {v['check']} |")
        head = out["fetch"][0]["sides"].get("adbc")
        if head:
            verdict = "met" if head["ratio"] <= FETCH_TARGET else "MISSED"
            lines += ["", f"Headline (ADBC fetch_arrow_table, owner): **{head['ratio']:.2f}×** the local read; "
                          f"target ≤ {FETCH_TARGET}×: **{verdict}**"]
        lines.append("")
    if "pg" in out:
        g = out["pg"]
        lines += [f"## 2. PostgreSQL wire: psycopg fetchall, Tessera vs PostgreSQL {g['postgresql_version']}",
                  f"`{g['sql']}` as {g['principal']} ({g['purpose']}); median of {i['reps']} after a warm-up", "",
                  "| result format | rows | tessera s | postgresql s | ratio | tessera CPU s | tessera peak RSS | rows compared |",
                  "|---|---:|---:|---:|---:|---:|---:|---|"]
        for f, v in g["formats"].items():
            lines.append(f"| {f} | {v['rows']:,} | {fmt_s(v['tessera']['median'])} | {fmt_s(v['postgresql']['median'])} | "
                         f"**{v['ratio']:.2f}×** | {v['tessera']['server_cpu_s']} | "
                         f"{v['tessera']['server_peak_mib']:,.0f} MiB | {v['check']} |")
        lines.append("")
    if "load" in out:
        L = out["load"]
        lines += [f"## 3. Mixed load: {L['clients']} clients ({', '.join(f'{n} {p}' for p, n in L['clients_by_protocol'].items())}), "
                  f"{L['duration_s']} s, one connection each",
                  f"principals: {', '.join(L['principals'])}; mix: {L['mix']}", "",
                  "| protocol / query | requests | per s | p50 ms | p99 ms | max ms | errors |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        rows = [("**all**", L["total"])] + [(f"**{p}**", v) for p, v in L["by_protocol"].items()] + list(L["by_kind"].items())
        for name, v in rows:
            lines.append(f"| {name} | {v['requests']:,} | {v['per_s']} | {v['p50_ms']} | {v['p99_ms']} | {v['max_ms']} | {v['errors']} |")
        s = L["server"]
        lost = f", clients lost: {L['clients_lost']}" if L["clients_lost"] else ""
        lines += ["", f"errors: **{L['errors']}**{lost}; "
                      f"server RSS before {s['rss_before_mib']:,.0f} MiB, peak **{s['peak_mib']:,.0f} MiB**, "
                      f"3 s after {s['rss_after_mib']:,.0f} MiB; server CPU {s['cpu_s']} s ({s['cpu_per_wall']} cores)"]
        for e in L["error_samples"][:10]:
            lines.append(f"    {e}")
        lines.append("")
    if "catalog" in out:
        C = out["catalog"]
        lines += [f"## 4. Catalog API: {C['products']:,} products in {C['domains']} domains (wrk, keep-alive)",
                  f"server ready in {C['server_ready_s']} s ({C['server_rss_ready_mib']:,.0f} MiB); "
                  f"first search (builds the index) {C['first_search_ms']} ms; `tessera validate` {C['validate_s']} s", "",
                  "| endpoint | connections | requests | per s | p50 ms | p90 ms | p99 ms | max ms | non-2xx | server CPU s | peak RSS |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, r in C["endpoints"].items():
            lines.append(f"| {name.rsplit(' c', 1)[0]} | {r['connections']} | {r.get('requests', 0):,} | {r.get('per_s')} | "
                         f"{r.get('p50_ms')} | {r.get('p90_ms')} | **{r.get('p99_ms')}** | {r.get('max_ms')} | "
                         f"{r['non_2xx']} | {r['server_cpu_s']} | {r['server_peak_mib']:,.0f} MiB |")
        for key in ("search c16", "product c16"):
            r = C["endpoints"].get(key)
            if r:
                ok = r.get("p99_ms", 1e9) < CATALOG_P99_MS and r["non_2xx"] == 0
                lines.append(f"\n{key}: p99 {r.get('p99_ms')} ms; target < {CATALOG_P99_MS:.0f} ms: **{'met' if ok else 'MISSED'}**")
        lines.append("")
    for k, e in out.get("failed", {}).items():
        lines.append(f"## {k}: FAILED\n{e}\n")
    return "\n".join(lines)


# --- main -----------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--mesh", required=True, type=Path)
    ap.add_argument("--results", required=True, type=Path)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scale", default="?")
    ap.add_argument("--parts", default="fetch,pg,load,catalog")
    ap.add_argument("--pg-rows", type=int, default=1_000_000, help="event_id bound of the PG query; 0: every row")
    ap.add_argument("--duration", type=int, default=30)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--products", type=int, default=10_000)
    ap.add_argument("--catalog-duration", type=int, default=20)
    a = ap.parse_args()
    a.tessera = str(Path(a.tessera).resolve())
    parts = [p.strip() for p in a.parts.split(",") if p.strip()]
    unknown = set(parts) - {"fetch", "pg", "load", "catalog"}
    if unknown:
        sys.exit(f"serve bench: unknown part(s) {', '.join(sorted(unknown))}: fetch, pg, load, catalog")
    demo = a.mesh.resolve()
    results = a.results
    results.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 1
    versions = {}
    for mod in ("pyarrow", "psycopg", "adbc_driver_flightsql", "deltalake"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:
            pass
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True) if shutil.which("wrk") else None
    out = {"info": {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cores} cores, {platform.machine()}, "
                   f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "scale": a.scale, "reps": a.reps,
        "tessera": subprocess.run([a.tessera, "--version"], capture_output=True, text=True).stdout.strip(),
        "tessera_path": a.tessera,  # bench/README.md: copies named tessera-<commit>
        "clients": versions,
        "wrk": (wrk.stdout + wrk.stderr).splitlines()[0] if wrk else None,
    }}
    failed = {}
    demo_parts = [p for p in parts if p != "catalog"]
    if demo_parts:
        ports = {"pg": free_port(), "flight": free_port()}
        http = free_port()
        mesh, data = make_mesh(demo, demo.parent / f"{demo.name}-serve" / "mesh", http, ports["pg"], ports["flight"])
        log(f"serve bench: tokens for {', '.join(p for p, _ in PRINCIPALS)} …")
        tokens = {p: create_token(a.tessera, mesh, p) for p, _ in PRINCIPALS}
        server = Server(a.tessera, mesh, results / "serve-server-demo.log", http, ports["pg"], ports["flight"])
        out["info"]["demo_server"] = {"ready_s": round(server.ready_s, 2), "rss_ready_mib": server.rss_mib(),
                                      "mesh": str(mesh)}
        log(f"serve bench: tessera serve ready in {server.ready_s:.1f}s (pid {server.pid}, "
            f"HTTP {http}, PG {ports['pg']}, Flight {ports['flight']})")
        try:
            for name, fn in (("fetch", part_fetch), ("pg", part_pg), ("load", part_load)):
                if name in parts:
                    try:
                        fn(a, server, tokens, data, ports, out)
                    except Exception as e:
                        import traceback
                        failed[name] = traceback.format_exc()
                        log(f"serve bench: {name} FAILED: {e}")
                    if server.proc.poll() is not None:
                        failed["server"] = f"tessera serve exited with {server.proc.returncode} during {name}"
                        break
            out["info"]["demo_server"]["rss_end_mib"] = server.rss_mib() if server.proc.poll() is None else None
        finally:
            server.stop()
    if "catalog" in parts:
        try:
            part_catalog(a, demo.parent, results, out)
        except Exception as e:
            import traceback
            failed["catalog"] = traceback.format_exc()
            log(f"serve bench: catalog FAILED: {e}")
    out["info"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if failed:
        out["failed"] = failed
    text = report(out)
    (results / "serve-report.txt").write_text(text + "\n")
    (results / "serve-results.json").write_text(json.dumps(out, indent=2, default=str))
    print(text)
    log(f"serve bench: results in {results}")
    bad = bool(failed)
    bad |= any("MISMATCH" in v["check"] for c in out.get("fetch", []) for v in c["sides"].values())
    bad |= any("MISMATCH" in v["check"] for v in out.get("pg", {}).get("formats", {}).values())
    bad |= out.get("load", {}).get("errors", 0) > 0
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
