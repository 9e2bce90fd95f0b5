#!/usr/bin/env bash
# Measures the CPU an idle coalition uses: starts `paxsync demo` (N daemons on
# loopback), waits until it has converged, then samples every `paxsync serve`
# process's CPU time over SECONDS and prints it per node and in total.
#
#   scripts/idle-cpu.sh [BINARY] [NODES] [SECONDS]     e.g. scripts/idle-cpu.sh .build/release/paxsync 5 60
set -euo pipefail
bin=${1:-.build/debug/paxsync}
nodes=${2:-5}
seconds=${3:-60}
dir=$(mktemp -d /tmp/paxsync-idle.XXXXXX)
out="$dir/demo.out"
"$bin" demo --dir "$dir/coalition" --nodes "$nodes" > "$out" 2>&1 &
demo=$!
trap 'kill -INT $demo 2>/dev/null; wait $demo 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 600); do
  grep -q "The coalition keeps running" "$out" && break
  kill -0 $demo 2>/dev/null || { cat "$out"; echo "demo exited early" >&2; exit 1; }
  sleep 0.5
done
grep -q "The coalition keeps running" "$out" || { echo "demo did not converge" >&2; exit 1; }
pids=$(pgrep -f "$dir/coalition.* serve|serve .*$dir/coalition" || true)
[ -n "$pids" ] || pids=$(pgrep -P $demo)
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A start
for p in $pids; do start[$p]=$(ticks "$p"); done
sleep "$seconds"
total=0
for p in $pids; do
  used=$(( $(ticks "$p") - ${start[$p]} ))
  total=$(( total + used ))
  node=$(tr '\0' ' ' < "/proc/$p/cmdline" | grep -o 'coalition/[A-Z]*' | head -1 | cut -d/ -f2)
  printf 'node %-4s %6.2f CPU s over %s s (%5.2f%% of a core)\n' "${node:-?}" "$(echo "$used / $hz" | bc -l)" "$seconds" "$(echo "100 * $used / $hz / $seconds" | bc -l)"
done
printf 'idle coalition of %s nodes: %.2f CPU s over %s s in total\n' "$nodes" "$(echo "$total / $hz" | bc -l)" "$seconds"
