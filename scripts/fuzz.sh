#!/usr/bin/env bash
# Fuzzes paxsync's decoders of outside input with libFuzzer (Fuzz/, PAXSYNC_FUZZ=1).
#
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer args...]   one target
#   scripts/fuzz.sh all SECONDS [libFuzzer args...]      each target for SECONDS
#
# TARGET: fuzz-entry, fuzz-bundle, fuzz-roster, fuzz-csv, fuzz-certificate, fuzz-sync,
# fuzz-config, fuzz-admin (the
# "fuzz-" may be left off). Builds with -sanitize=fuzzer,address into
# .build-fuzz (never .build), at low priority (nice; FUZZ_NICE overrides).
# The committed seeds in Fuzz/corpus/TARGET are copied into a working corpus
# .build-fuzz/corpus/TARGET, which keeps growing across runs; the committed
# corpus is never written. Crash, leak, timeout and OOM inputs go to
# .build-fuzz/crashes/TARGET/. Exit status: 0 when nothing was found, 1 when a
# target crashed (or failed to build), 64 on usage errors.
# FUZZ_SKIP_BUILD=1 runs the binaries already in .build-fuzz without building.
set -uo pipefail
cd "$(dirname "$0")/.."

ALL=(fuzz-entry fuzz-bundle fuzz-roster fuzz-csv fuzz-certificate fuzz-sync fuzz-config fuzz-admin)
SCRATCH=.build-fuzz
NICE=${FUZZ_NICE:-15}

usage() { echo "usage: scripts/fuzz.sh all|TARGET SECONDS [libFuzzer args...]; TARGET: ${ALL[*]}" >&2; exit 64; }
[ $# -ge 2 ] || usage
what=$1 seconds=$2
shift 2
[[ $seconds =~ ^[0-9]+$ ]] || usage

if [ "$what" = all ]; then
  targets=("${ALL[@]}")
else
  t=$what
  [[ $t == fuzz-* ]] || t=fuzz-$t
  [[ " ${ALL[*]} " == *" $t "* ]] || usage
  targets=("$t")
fi

# SwiftPM builds one --product per invocation; the shared modules are compiled
# once and the later invocations only compile and link the fuzz target itself.
build() {
  local p log
  for p in "$@"; do
    log=$SCRATCH/logs/build-$p.log
    mkdir -p "$SCRATCH/logs"
    echo "fuzz: building $p"
    # C++ (toml++, under TOMLKit: fuzz-config's parser) is instrumented too, so
    # libFuzzer sees its branches; the C of BoringSSL is not (-Xcxx is C++ only).
    if ! PAXSYNC_FUZZ=1 nice -n "$NICE" swift build -c debug -Xswiftc -sanitize=fuzzer,address \
        -Xcxx -fsanitize=fuzzer-no-link,address --product "$p" --scratch-path "$SCRATCH" >"$log" 2>&1; then
      # ld.gold's "Cannot export local symbol __asan_..." warnings are harmless.
      grep -v 'Cannot export local symbol' "$log" | grep -E 'error|warning: unable' | head -20 >&2
      echo "fuzz: building $p failed; see $log" >&2
      return 1
    fi
  done
}

total_execs=0 total_crashes=0 ran=0

# TOMLKit's C++ bridge never frees what it hands to Swift (every key list, string
# and integer read, and each parsed table: a few hundred bytes per parse), so
# LeakSanitizer would stop fuzz-config on its first input (and at exit). paxsync
# parses paxsync.conf once per process; leaks stay checked in every other target.
extra_args() {
  case $1 in
    fuzz-config) echo "-detect_leaks=0" ;;
  esac
}

run() {
  local t=$1; shift
  local seeds=Fuzz/corpus/$t work=$SCRATCH/corpus/$t crashes=$SCRATCH/crashes/$t
  local log=$SCRATCH/logs/$t.log bin
  bin=$SCRATCH/debug/$t
  [ -x "$bin" ] || echo "fuzz: $bin is missing; build it first (without FUZZ_SKIP_BUILD)" >&2
  mkdir -p "$work" "$crashes"
  [ -d "$seeds" ] && cp -n "$seeds"/* "$work"/ 2>/dev/null
  local before
  before=$(find "$crashes" -type f | wc -l)
  echo "fuzz: $t for ${seconds}s (corpus $work, log $log)"
  # Swift's own crash backtracer would catch a trap first and, under ASan, its
  # memory-reading thread reports a stray stack-buffer-underflow; libFuzzer
  # prints the stack and saves the input itself.
  local asan=${ASAN_OPTIONS:-}
  [ -n "$(extra_args "$t")" ] && asan="${asan:+$asan:}detect_leaks=0"
  ASAN_OPTIONS=$asan SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no} \
    nice -n "$NICE" "$bin" "$work" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 -artifact_prefix="$crashes/" $(extra_args "$t") "$@" >"$log" 2>&1
  local status=$?
  local execs after found
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  execs=${execs:-0}
  after=$(find "$crashes" -type f | wc -l)
  found=$((after - before))
  if [ $status -ne 0 ] && [ $found -eq 0 ]; then found=1; fi
  total_execs=$((total_execs + execs))
  ran=$((ran + 1))
  if [ $found -gt 0 ]; then
    total_crashes=$((total_crashes + found))
    echo "fuzz: $t: $execs executions, FOUND $found (exit $status); inputs in $crashes/:"
    find "$crashes" -type f -newer "$log.start" 2>/dev/null | sed 's/^/  /'
    grep -E '^(==[0-9]+==ERROR|SUMMARY|Fatal error|.*Fatal error:|    #[0-9]+ )' "$log" | head -25 | sed 's/^/  | /'
  else
    echo "fuzz: $t: $execs executions, nothing found (corpus $(find "$work" -type f | wc -l) inputs)"
  fi
}

if [ "${FUZZ_SKIP_BUILD:-0}" != 1 ]; then
  started=$SECONDS
  build "${targets[@]}" || { echo "fuzz: ${#targets[@]} targets, 0 executions, build failed"; exit 1; }
  echo "fuzz: built ${#targets[@]} target(s) in $((SECONDS - started)) s"
fi
for t in "${targets[@]}"; do
  mkdir -p "$SCRATCH/logs"; touch "$SCRATCH/logs/$t.log.start"
  run "$t" "$@"
done
echo "fuzz: $ran targets, $total_execs executions, $total_crashes crashes"
[ $total_crashes -eq 0 ]
