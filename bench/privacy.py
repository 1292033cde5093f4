"""Erasure: `tessera erase` of one customer across the demo mesh vs a plain delta-rs DELETE
of the same rows, port by port, on copies of the same Delta tables (bench/README.md).

    published demo mesh ──cp──▶ work/tessera (mesh, catalog, tables) ─▶ tessera erase --subject customer_id=K
                        ──cp──▶ work/deltars (the same ports' tables)  ─▶ DeltaTable(port).delete("customer_id = K")

Each repetition erases another customer, from both copies, so both work on tables that
already went through the earlier deletes. Reported per repetition: Tessera's wall time
(the whole process: load and check the mesh, open the metadata store and reconcile it with
the Delta logs, authorize, register, delete, record, audit), Tessera's own erase time (its
report's duration), delta-rs' time for the deletes alone (in one warm Python process) and
with its process, and the rows each deleted, which must be equal.

Usage: python bench/privacy.py --tessera BIN --mesh PUBLISHED_DEMO_MESH --work DIR
                               [--reps 3] [--json out.json]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

DPO = "dpo@example.com"

DELTARS = r"""
import json, sys, time
t0 = time.perf_counter()
from deltalake import DeltaTable
t1 = time.perf_counter()
root, key, tables = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
out = {}
for t in tables:
    start = time.perf_counter()
    metrics = DeltaTable(f"{root}/{t}").delete(f"customer_id = {key}")
    out[t] = {"seconds": time.perf_counter() - start,
              "rows_deleted": metrics.get("num_deleted_rows"),
              "files_removed": metrics.get("num_removed_files"),
              "files_added": metrics.get("num_added_files")}
print(json.dumps({"import_seconds": t1 - t0, "deletes_seconds": time.perf_counter() - t1, "ports": out}))
"""


def run(cmd, cwd=None):
    start = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return p.stdout, took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--mesh", required=True, help="a published demo mesh (not changed)")
    ap.add_argument("--work", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()

    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    mesh = os.path.join(args.work, "tessera")
    print(f"copying {args.mesh} ...", file=sys.stderr)
    shutil.copytree(args.mesh, mesh, symlinks=True)
    data = os.path.join(mesh, ".tessera", "data")

    # Customers that have rows in every port holding customers: from the published mesh.
    keys = [str(k) for k in (4711, 1234, 777, 31337, 2024)[: args.reps]]
    plan_out, _ = run([args.tessera, "erase", "--subject", f"customer_id={keys[0]}",
                       "--as", DPO, "--dry-run", "--format", "json"], cwd=mesh)
    plan = json.loads(plan_out)
    tables = [f"{p['product']}/{p['table'].split('.', 1)[1]}" for p in plan["ports"]]
    deltars = os.path.join(args.work, "deltars")
    for t in tables:
        shutil.copytree(os.path.join(data, t), os.path.join(deltars, t))
    rows = {}
    for t in tables:
        from deltalake import DeltaTable  # noqa: PLC0415 (only the bench venv has it)
        rows[t] = DeltaTable(os.path.join(deltars, t)).to_pyarrow_dataset().count_rows()
    print(f"ports: {', '.join(f'{t} ({rows[t]:,} rows)' for t in tables)}", file=sys.stderr)

    results = []
    for rep, key in enumerate(keys):
        out, wall = run([args.tessera, "erase", "--subject", f"customer_id={key}", "--as", DPO,
                         "--quiet", "--format", "json"], cwd=mesh)
        report = json.loads(out)[-1]
        d_out, d_wall = run([sys.executable, "-c", DELTARS, deltars, key, json.dumps(tables)])
        d = json.loads(d_out)
        t_rows = {p["table"]: p["rows_deleted"] for p in report["ports"]}
        d_rows = sum((v["rows_deleted"] or 0) for v in d["ports"].values())
        r = {
            "rep": rep + 1,
            "key": key,
            "tessera_wall_s": wall,
            "tessera_erase_s": report["duration_ms"] / 1000,
            "tessera_rows": report["rows_deleted"],
            "tessera_per_port_rows": t_rows,
            "deltars_deletes_s": d["deletes_seconds"],
            "deltars_wall_s": d_wall,
            "deltars_rows": d_rows,
            "deltars_per_port": d["ports"],
        }
        r["ratio_wall"] = r["tessera_wall_s"] / r["deltars_deletes_s"]
        r["ratio_erase"] = r["tessera_erase_s"] / r["deltars_deletes_s"]
        if r["tessera_rows"] != r["deltars_rows"]:
            sys.exit(f"rows differ for customer {key}: tessera {r['tessera_rows']}, delta-rs {r['deltars_rows']}")
        results.append(r)
        print(f"rep {rep + 1} customer {key}: {r['tessera_rows']} rows; tessera erase {wall:.2f} s "
              f"(its erase {r['tessera_erase_s']:.2f} s), delta-rs deletes {r['deltars_deletes_s']:.2f} s "
              f"({d_wall:.2f} s with its process): {r['ratio_wall']:.2f}x / {r['ratio_erase']:.2f}x",
              file=sys.stderr)

    def median(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2]

    summary = {
        "ports": {t: rows[t] for t in tables},
        "reps": results,
        "median_tessera_wall_s": median([r["tessera_wall_s"] for r in results]),
        "median_tessera_erase_s": median([r["tessera_erase_s"] for r in results]),
        "median_deltars_deletes_s": median([r["deltars_deletes_s"] for r in results]),
        "median_deltars_wall_s": median([r["deltars_wall_s"] for r in results]),
    }
    summary["ratio_wall"] = summary["median_tessera_wall_s"] / summary["median_deltars_deletes_s"]
    summary["ratio_erase"] = summary["median_tessera_erase_s"] / summary["median_deltars_deletes_s"]
    print(f"median: tessera erase {summary['median_tessera_wall_s']:.2f} s "
          f"(its erase {summary['median_tessera_erase_s']:.2f} s) vs delta-rs deletes "
          f"{summary['median_deltars_deletes_s']:.2f} s: {summary['ratio_wall']:.2f}x "
          f"({summary['ratio_erase']:.2f}x); target <= 2x", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
