"""Reference query times with DuckDB (optional part of bench/run; cheap).

    python duckdb_reference.py SOURCE.parquet DELTA_TABLE_DIR REPS

1. The benchmark contract's five checks written by hand as one DuckDB query over the source
   Parquet file: what the checks cost in a fast engine with no contract tool around it.
2. A typical consumer query (events and distinct customers per channel) over the table
   `tessera publish` wrote. DuckDB's delta extension is downloaded at run time, which this
   machine cannot do, so the query reads the Parquet files of the table's current version,
   as listed by delta-rs (`DeltaTable.file_uris()`).

Prints one JSON object: the best of REPS in-process seconds of each, DuckDB's version, and
the first query's result (so a reader can compare it with the contract testers' figures).
"""

import json
import sys
import time

import duckdb
from deltalake import DeltaTable

CHECKS = """
SELECT count(*)                                        AS row_count,
       count(*) FILTER (WHERE event_id IS NULL)        AS event_id_nulls,
       count(event_id) - count(DISTINCT event_id)      AS event_id_duplicates,
       count(*) FILTER (WHERE customer_id < 1)         AS customer_id_below_1,
       count(*) FILTER (WHERE device IS NOT NULL
                        AND device NOT IN ('mobile', 'desktop', 'tablet')) AS device_invalid
FROM read_parquet($source)
"""

PER_CHANNEL = """
SELECT channel, count(*) AS events, count(DISTINCT customer_id) AS customers
FROM read_parquet($files)
GROUP BY channel
ORDER BY events DESC
"""


def best(reps: int, run) -> tuple[float, object]:
    times, result = [], None
    for _ in range(reps):
        t = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t)
    return min(times), result


def main() -> None:
    source, table_dir, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    con = duckdb.connect()
    checks_s, row = best(reps, lambda: con.execute(CHECKS, {"source": source}).fetchone())
    files = [u.removeprefix("file://") for u in DeltaTable(table_dir).file_uris()]
    channel_s, rows = best(reps, lambda: con.execute(PER_CHANNEL, {"files": files}).fetchall())
    names = ["row_count", "event_id_nulls", "event_id_duplicates", "customer_id_below_1", "device_invalid"]
    print(
        json.dumps(
            {
                "duckdb": duckdb.__version__,
                "checks_s": round(checks_s, 3),
                "checks": dict(zip(names, row)),
                "per_channel_s": round(channel_s, 3),
                "per_channel_rows": len(rows),
                "delta_files": len(files),
            }
        )
    )


if __name__ == "__main__":
    main()
