#!/usr/bin/env bash
# Seeds the corpus and fuzzes one target for a while.
#
#   fuzz/run.sh <parse_file|load_mesh> [SECONDS=600] [extra libFuzzer flags...]
#
# Environment:
#   SANITIZER  none (default; ~10x faster here, and the code under test is safe Rust)
#              or address (ASan; also works on the stable toolchain with RUSTC_BOOTSTRAP=1)
#   FIXTURES   the shared fixtures (default: <repo>/../shared/fixtures)
#
# Only the stable toolchain exists here; cargo-fuzz passes nightly-only rustc flags
# (-Zsanitizer, -Cpasses=sancov-module, ...), which RUSTC_BOOTSTRAP=1 lets stable accept.
# libFuzzer runs in one child process (-jobs=1 -workers=1: the machine has 2 cores) whose
# log is fuzz/artifacts/logs/<target>-<date>/fuzz-0.log (cargo-fuzz's own output is
# driver.log beside it); the final stats line
# (`#N DONE cov: ... exec/s: ...`) is printed at the end. Crashes go to
# fuzz/artifacts/<target>/; the corpus grows in fuzz/corpus/<target>/ (both git-ignored).
set -euo pipefail

target=${1:?usage: fuzz/run.sh <parse_file|load_mesh> [seconds] [libFuzzer flags...]}
seconds=${2:-600}
shift $(( $# >= 2 ? 2 : 1 ))

fuzz_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$fuzz_dir")
fixtures=${FIXTURES:-$root/../shared/fixtures}
sanitizer=${SANITIZER:-none}
export RUSTC_BOOTSTRAP=1
unset CARGO_TARGET_DIR # fuzz builds live in fuzz/target

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

echo "== seeding $fuzz_dir/corpus from $fixtures"
cargo run --quiet --manifest-path "$fuzz_dir/Cargo.toml" --example seed -- \
    "$fixtures" "$fuzz_dir/corpus"

echo "== building $target (sanitizer: $sanitizer)"
cargo fuzz build --fuzz-dir "$fuzz_dir" --sanitizer "$sanitizer" "$target"

logs="$fuzz_dir/artifacts/logs/$target-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$logs"
echo "== fuzzing $target for ${seconds}s; log: $logs/fuzz-0.log"
status=0
# libFuzzer writes fuzz-<job>.log into the working directory.
(cd "$logs" && cargo fuzz run --fuzz-dir "$fuzz_dir" --sanitizer "$sanitizer" "$target" -- \
    -max_total_time="$seconds" -max_len=32768 -timeout=10 -rss_limit_mb=4096 \
    -dict="$fuzz_dir/yaml.dict" -jobs=1 -workers=1 -print_final_stats=1 "$@" \
    >"$logs/driver.log" 2>&1) || status=$?

log="$logs/fuzz-0.log"
if [[ -f $log ]]; then
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^(stat::|Done )|SUMMARY|panicked|ERROR|^INFO: exiting' "$log" || true
    grep -E '^#[0-9]+: cov:' "$log" | tail -n 1 || true # fork mode
else
    tail -n 30 "$logs/driver.log"
fi
echo "== corpus: $(find "$fuzz_dir/corpus/$target" -type f | wc -l) files"
if compgen -G "$fuzz_dir/artifacts/$target/*-*" >/dev/null; then
    echo "== artifacts (crashes, timeouts, OOMs):"
    ls -l "$fuzz_dir/artifacts/$target"
fi
exit "$status"
