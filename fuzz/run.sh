#!/usr/bin/env bash
# Runs rtcache's fuzzers: fuzz/run.sh BUILD_DIR SECONDS_PER_TARGET
# Writes the seed corpus (real files and images made by rtcache), then runs
# each target for the given time on its growing corpus (BUILD_DIR/corpus/*,
# kept between runs), and prints executions and coverage per target.
# A crash or invariant violation stops with the reproducer in BUILD_DIR/artifacts/.
set -euo pipefail
build=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$build/seeds"
"$build/make_seed_corpus" "$build/seeds"
mkdir -p "$build/corpus/file_parser" "$build/corpus/deserialize" "$build/artifacts"
status=0
for target in file_parser deserialize; do
  seeds=("$build/seeds/file")
  [ "$target" = deserialize ] && seeds=("$build/seeds/image" "$build/seeds/file")
  echo "=== ${target}_fuzzer: ${seconds} s ==="
  if ! "$build/${target}_fuzzer" -max_total_time="$seconds" -print_final_stats=1 \
      -dict="$here/rtcache.dict" -artifact_prefix="$build/artifacts/" -rss_limit_mb=2048 \
      -timeout=10 "$build/corpus/$target" "${seeds[@]}" > "$build/$target.log" 2>&1; then
    status=1
    tail -n 40 "$build/$target.log"
  fi
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$build/$target.log" | tail -n 1 || true)
  execs=$(grep -E '^stat::number_of_executed_units' "$build/$target.log" | awk '{print $2}')
  echo "${target}_fuzzer: executions ${execs:-?}; final: ${done_line:-none}"
done
exit $status
