"""DuckDB's answers to the differential test's queries, in the canonical form.

Run by crates/tessera/tests/it/differential.rs with the test venv's python
(scripts/test sets it up from scripts/test-requirements.txt). Reads one JSON document
on stdin:

    {"tables":  {"web.events": ["/abs/part-0.parquet", ...], ...},
     "queries": [{"name": "...", "sql": "..."}, ...]}

creates a view `"<schema>"."<table>"` over each table's Parquet files (the files of the
Delta snapshot, listed by the Rust side), runs each query, and writes one JSON document
on stdout:

    {"duckdb": "1.5.6",
     "results": [{"name": "...", "columns": [{"name": "...", "type": "..."}],
                  "rows": [[value, ...], ...], "error": null | "message"}, ...]}

Every value is canonical, written to be byte-identical to the Rust side's rendering of
the same value (differential.rs, `canonical`):

    NULL                   null (JSON)
    boolean                "true" / "false"
    integer (any width)    decimal digits: "-42"
    decimal(p, s)          plain notation with exactly s fractional digits: "-0.50"
    float / double         15 significant digits, Python's '.14e' form: "1.23450000000000e+01";
                           -0.0 as 0.0; "NaN", "Infinity", "-Infinity"
    date                   "2025-01-31"
    timestamp with tz      the UTC instant, microseconds, "Z": "2025-01-31T08:00:00.000000Z"
    timestamp (naive)      the same without "Z"
    string                 itself
    anything else          "<TYPE>" + Python's str() of it, so that it cannot match by accident

Rows are not sorted here; the Rust side sorts both answers the same way.
"""

import datetime
import decimal
import json
import math
import sys

import duckdb

EPOCH = datetime.datetime(1970, 1, 1)
TIMESTAMPS = {
    "timestamp with time zone": "Z",
    "timestamp": "",
    "timestamp_s": "",
    "timestamp_ms": "",
    "timestamp_ns": "",
}
INTEGERS = {
    "tinyint", "smallint", "integer", "bigint", "hugeint",
    "utinyint", "usmallint", "uinteger", "ubigint", "uhugeint",
}
EXACT = decimal.Context(prec=200)


def quote(name):
    return '"' + name.replace('"', '""') + '"'


def double(x):
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0.0:
        x = 0.0  # -0.0 compares equal to 0.0 in SQL; one spelling
    return format(x, ".14e")


def timestamp(micros, suffix):
    t = EPOCH + datetime.timedelta(microseconds=micros)
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T"
        f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}.{t.microsecond:06d}{suffix}"
    )


def canonical(value, kind):
    """One value of a column of DuckDB type `kind` (a DuckDBPyType)."""
    if value is None:
        return None
    t = kind.id
    if t == "boolean":
        return "true" if value else "false"
    if t in INTEGERS:
        return str(value)
    if t == "decimal":
        scale = dict(kind.children)["scale"]
        exact = value.quantize(decimal.Decimal(1).scaleb(-scale), context=EXACT)
        return format(exact, "f")
    if t in ("double", "float"):
        return double(value)
    if t == "date":
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    if t in TIMESTAMPS:
        # selected as epoch_us (below): no Python time zone handling involved
        return timestamp(value, TIMESTAMPS[t])
    if t == "varchar":
        return value
    return f"<{kind}>{value}"


def answer(con, name, sql):
    relation = con.sql(sql)
    columns = relation.columns
    types = relation.types
    # Timestamps leave DuckDB as microseconds since the epoch (UTC), so that converting
    # them needs neither pytz nor the session time zone. The columns are renamed c0, c1, …
    # so that duplicate or odd output names cannot make the projection ambiguous.
    aliases = ", ".join(f"c{i}" for i in range(len(columns)))
    projection = ", ".join(
        f"epoch_us(c{i})" if t.id in TIMESTAMPS else f"c{i}"
        for i, t in enumerate(types)
    )
    wrapped = f"SELECT {projection} FROM (\n{sql}\n) AS q({aliases})"
    rows = con.execute(wrapped).fetchall()
    return {
        "name": name,
        "columns": [{"name": c, "type": str(t)} for c, t in zip(columns, types)],
        "rows": [[canonical(v, t) for v, t in zip(row, types)] for row in rows],
        "error": None,
    }


def main():
    request = json.load(sys.stdin)
    con = duckdb.connect()
    # date_trunc and casts of timestamps with time zone follow the session time zone;
    # Tessera works in UTC.
    con.execute("SET TimeZone = 'UTC'")
    schemas = set()
    for table, files in sorted(request["tables"].items()):
        schema, name = table.split(".", 1)
        if schema not in schemas:
            con.execute(f"CREATE SCHEMA {quote(schema)}")
            schemas.add(schema)
        listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        con.execute(
            f"CREATE VIEW {quote(schema)}.{quote(name)} AS "
            f"SELECT * FROM read_parquet([{listed}])"
        )
    results = []
    for q in request["queries"]:
        try:
            results.append(answer(con, q["name"], q["sql"]))
        except duckdb.Error as e:
            results.append(
                {"name": q["name"], "columns": [], "rows": [], "error": str(e)}
            )
    json.dump({"duckdb": duckdb.__version__, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
