"""The delta-rs side of the publish benchmark: read the source Parquet file into Arrow with
pyarrow, then write it as a Delta table with delta-rs' Python `write_deltalake`.

    python deltars_write.py SOURCE.parquet TABLE_DIR

Nothing else: no query, no checks, no catalog. The table is overwritten (a new Delta version)
when it exists, as `tessera publish --force` overwrites its port's table. Writer settings are
delta-rs' defaults, which are also what Tessera's writer (the deltalake crate) uses.
Prints one JSON line: rows, and the seconds spent importing, reading and writing.
"""

import json
import sys
import time

t0 = time.perf_counter()
import pyarrow.dataset  # noqa: E402,F401  (read_table's reader, imported here so it counts as import time)
import pyarrow.parquet as pq  # noqa: E402
from deltalake import __version__ as deltalake_version  # noqa: E402
from deltalake import write_deltalake  # noqa: E402

t1 = time.perf_counter()


def main() -> None:
    source, table_dir = sys.argv[1], sys.argv[2]
    table = pq.read_table(source)
    t2 = time.perf_counter()
    write_deltalake(table_dir, table, mode="overwrite")
    t3 = time.perf_counter()
    print(
        json.dumps(
            {
                "rows": table.num_rows,
                "import_s": round(t1 - t0, 3),
                "read_s": round(t2 - t1, 3),
                "write_s": round(t3 - t2, 3),
                "deltalake": deltalake_version,
            }
        )
    )


if __name__ == "__main__":
    main()
