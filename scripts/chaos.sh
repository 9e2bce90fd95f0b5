#!/usr/bin/env bash
# Chaos suite for CI: three real `paxsync serve` daemons (AU, JP, KR), each in
# its own network namespace, survive faults while the CLI writes at every node;
# after every fault every replica must converge and check out.
#
#   scripts/chaos.sh [PAXSYNC_BINARY] [--quick]      (as root; default .build/debug/paxsync)
#
# Faults (each followed by checks):
#   1. SIGKILL of daemons during catch-up (a backlog of hundreds of entries) and
#      during live writes, 6 rounds (3 with --quick), every node a victim of
#      both, two at once in round 4; restarted. Concurrent `facility
#      create/update`, `stock set`, `reserve pledge --adjust` and CSV imports at
#      every node; every write the CLI acknowledged (exit 0, "Committed
#      ORIGIN:SEQ") is recorded.
#   2. Partitions over veth links to a bridge in a hub namespace (10.77.0.0/24,
#      only inside the namespaces; daemons listen there, the roster names those
#      addresses): AU cut off by `ip link set DEV down` while AU (exporter) and
#      JP (importer) edit the same shipment's ETA, then healed; one-way cuts
#      (`ip route add blackhole` in AU for JP, `prohibit` in KR for AU) that the
#      coalition must route around by relaying, then healed. Without `ip netns`
#      (or with CHAOS_NETNS=0) the daemons run on loopback and this is skipped.
#   3. KR's data directory is a 64 MB tmpfs: filled while KR receives entries
#      (the daemon must survive and report it, nothing may be corrupted), then
#      grown with `mount -o remount,size=256m`; then remounted read-only for a
#      while (the kernel refuses a live ro remount while the daemon holds the
#      replica open for writing, so KR is SIGKILLed first and must refuse to
#      start on it), then rw again.
#   4. Clock skew (faketime; installed when missing, else skipped): JP's daemon
#      and CLI run +40 s, then +10 min ahead; max_clock_skew_seconds = 30 on
#      every node, so the others must hold JP's entries (`paxsync status
#      --json`) and release them by time (+40 s), or once the bound is raised to
#      900 and they restart (+10 min).
# Checks on every node: equal `paxsync digest`, `paxsync log verify`, SQLite
# integrity_check, nothing quarantined or held, every acknowledged write present
# (and the latest acknowledged facility name, the sum of acknowledged pledge
# adjustments), identical `paxsync conflicts --json`. Waits poll with deadlines.
#
# Prints one summary line, `chaos: N rounds, M faults survived, K checks passed`
# (`, S skipped` when a phase could not run). On a failed check it names the
# check and the node, prints every node's serve log tail, and exits 1 at the
# end; a failure that leaves the replicas in doubt ends the run after its phase.
# CHAOS_SEED=N replays the random choices; CHAOS_KEEP=1 keeps the work directory.
set -uo pipefail

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN_SRC=$ROOT/.build/debug/paxsync
QUICK=0
for arg in "$@"; do
  case $arg in
    --quick) QUICK=1 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "chaos: unknown option $arg" >&2; usage >&2; exit 2 ;;
    *) BIN_SRC=$arg ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "chaos: must run as root (network namespaces, tmpfs mounts)" >&2; exit 2; }
[ -x "$BIN_SRC" ] || { echo "chaos: no paxsync binary at $BIN_SRC" >&2; exit 2; }

SEED=${CHAOS_SEED:-$(( $(date +%s) % 100000 ))}
RANDOM=$SEED
T0=$(date +%s.%N)
ROUNDS=0 FAULTS=0 CHECKS=0 SKIPPED=0
FAILED=()
SKIPS=()

log() { printf '[%6.1fs] %s\n' "$(awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN {print a - b}')" "$*"; }

# --- tools -------------------------------------------------------------------
need=()
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v faketime >/dev/null 2>&1 || need+=(faketime)
command -v pgrep >/dev/null 2>&1 || need+=(procps)
if [ ${#need[@]} -gt 0 ]; then
  echo "chaos: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1; apt-get install -y -qq "${need[@]}" >/dev/null 2>&1; } ||
    echo "chaos: could not install ${need[*]}"
fi
for tool in sqlite3 ip pgrep mount timeout; do
  command -v $tool >/dev/null 2>&1 || { echo "chaos: $tool is required" >&2; exit 2; }
done
HAVE_FAKETIME=0
command -v faketime >/dev/null 2>&1 && [ "$(faketime -f '+10m' date +%s 2>/dev/null || echo 0)" -gt $(( $(date +%s) + 500 )) ] && HAVE_FAKETIME=1

# --- work directory and the binary (copied: it may be rebuilt under us) --------
WORK=$(mktemp -d /tmp/paxsync-chaos.XXXXXX)
mkdir -p "$WORK/bin" "$WORK/tmp"
BIN=$WORK/bin/paxsync
for attempt in 1 2 3 4 5; do
  before=$(stat -c '%s %Y' "$BIN_SRC")
  cp "$BIN_SRC" "$BIN" && [ "$(stat -c '%s %Y' "$BIN_SRC")" = "$before" ] && "$BIN" --version >/dev/null 2>&1 && break
  [ $attempt = 5 ] && { echo "chaos: could not copy a working binary from $BIN_SRC" >&2; rm -rf "$WORK"; exit 2; }
  sleep 2
done

NODES=(AU JP KR)
declare -A DIR NS ADDR PID WRAP LOGF
TAG=pxc$$
HUB=${TAG}hub
DISK_NODE=KR          # its data directory is a tmpfs
SKEW_NODE=JP          # its clock runs ahead in phase 4
NETNS=0
MOUNTED=""
WRITERS=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for w in "${WRITERS[@]}"; do kill "$w" 2>/dev/null; done
  for n in "${NODES[@]}"; do
    local p=${PID[$n]:-}
    [ -n "$p" ] && kill -TERM "$p" 2>/dev/null
  done
  for n in "${NODES[@]}"; do
    local p=${PID[$n]:-}
    [ -n "$p" ] || continue
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    [ -n "${WRAP[$n]:-}" ] && wait "${WRAP[$n]}" 2>/dev/null
  done
  # anything still running our copy of the binary was started by this script
  for p in $(pgrep -f "^$BIN " 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  if [ $NETNS = 1 ]; then
    for n in "${NODES[@]}"; do [ -n "${NS[$n]:-}" ] && ip netns del "${NS[$n]}" 2>/dev/null; done
    ip netns del "$HUB" 2>/dev/null
  fi
  if [ -n "$MOUNTED" ]; then
    umount "$MOUNTED" 2>/dev/null || umount -l "$MOUNTED" 2>/dev/null
  fi
  if [ "${CHAOS_KEEP:-0}" = 1 ]; then echo "chaos: kept $WORK" >&2; else rm -rf "$WORK"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- checks ------------------------------------------------------------------
pass() { CHECKS=$((CHECKS + 1)); }

show_logs() {
  local n
  for n in "${NODES[@]}"; do
    echo "----- $n serve log (tail) -----" >&2
    tail -n 8 "${LOGF[$n]:-/dev/null}" 2>/dev/null | cut -c1-300 >&2
  done
}

# fail CHECK NODE DETAIL — with SOFT=1 the coalition's state is not in doubt
# (a missing report, a refused command), so the suite goes on to the next phase
FATAL=0
fail() {
  FAILED+=("$1 on $2")
  [ "${SOFT:-0}" = 1 ] || FATAL=$((FATAL + 1))
  echo "chaos: FAIL: $1 on node $2: $3" >&2
  show_logs
}

finish() {
  local line="chaos: $ROUNDS rounds, $FAULTS faults survived, $CHECKS checks passed"
  [ $SKIPPED -gt 0 ] && line+=", $SKIPPED skipped"
  log "done (seed $SEED; $(cat "$WORK/write-errors" 2>/dev/null | wc -l) CLI writes refused, none of them counted as acknowledged)"
  for s in "${SKIPS[@]}"; do echo "chaos: skipped: $s"; done
  if [ ${#FAILED[@]} -gt 0 ]; then
    for f in "${FAILED[@]}"; do echo "chaos: failed check: $f" >&2; done
    echo "chaos: FAILED: ${FAILED[0]} (${#FAILED[@]} failed; $ROUNDS rounds, $FAULTS faults, $CHECKS checks passed$([ $SKIPPED -gt 0 ] && echo ", $SKIPPED skipped"))"
    exit 1
  fi
  echo "$line"
  exit 0
}

stop_if_failed() { [ $FATAL -eq 0 ] || finish; }

# --- running things at a node -------------------------------------------------
# nsexec NODE CMD...: run inside the node's network namespace
nsexec() {
  local n=$1; shift
  if [ $NETNS = 1 ]; then ip netns exec "${NS[$n]}" "$@"; else "$@"; fi
}
px() { local n=$1; shift; PAXSYNC_DATA_DIR=${DIR[$n]} nsexec "$n" "$BIN" "$@"; }
# pxskew NODE OFFSET ARGS...: the CLI under faketime
pxskew() { local n=$1 off=$2; shift 2; PAXSYNC_DATA_DIR=${DIR[$n]} nsexec "$n" faketime -f "$off" "$BIN" "$@"; }
sq() { sqlite3 -cmd '.timeout 10000' "$@"; }
# jq-less JSON: jsq FILE SQL-EXPRESSION-ON-j
jsq() { sqlite3 :memory: "SELECT $2 FROM (SELECT CAST(readfile('$1') AS TEXT) AS j)"; }
now() { date +%s.%N; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN {printf "%.1f", a - b}'; }
running() { [ -n "${PID[$1]:-}" ] && kill -0 "${PID[$1]}" 2>/dev/null; }

# start_daemon NODE [FAKETIME-OFFSET]
# (`ip netns exec` execs the daemon, so $! is its pid; the faketime wrapper forks
# it and waits, so with a clock offset the daemon is the wrapper's child. A bare
# LD_PRELOAD of libfaketime is no substitute: the Swift runtime then sees no
# command-line arguments.)
start_daemon() {
  local n=$1 skew=${2:-}
  local cmd=()
  [ $NETNS = 1 ] && cmd=(ip netns exec "${NS[$n]}")
  [ -n "$skew" ] && cmd+=(faketime -f "$skew")
  echo "===== chaos: start $(date -u +%FT%T.%N) ${skew:+clock $skew}" >> "${LOGF[$n]}"
  "${cmd[@]}" "$BIN" serve --data-dir "${DIR[$n]}" >> "${LOGF[$n]}" 2>&1 &
  PID[$n]=$!
  WRAP[$n]=""
  if [ -n "$skew" ]; then
    WRAP[$n]=$!
    local child=""
    for _ in $(seq 1 50); do child=$(pgrep -P "${WRAP[$n]}" | head -1); [ -n "$child" ] && break; sleep 0.05; done
    PID[$n]=${child:-${WRAP[$n]}}
  fi
  echo "===== chaos: pid ${PID[$n]}" >> "${LOGF[$n]}"
}

# wait_ready NODE: the admin socket answers (deadline 15 s)
wait_ready() {
  local n=$1 deadline=$((SECONDS + 15))
  while [ $SECONDS -lt $deadline ]; do
    if ! running "$n"; then
      wait "${WRAP[$n]:-${PID[$n]}}" 2>/dev/null; local rc=$?
      PID[$n]=""
      fail "daemon starts" "$n" "paxsync serve exited with status $rc"
      return 1
    fi
    px "$n" status --json > "$WORK/tmp/ready.$n" 2>/dev/null &&
      [ "$(jsq "$WORK/tmp/ready.$n" "json_extract(j, '\$.daemonRunning')")" = 1 ] && { pass; return 0; }
    sleep 0.1
  done
  fail "daemon starts" "$n" "admin socket not answering after 15 s"
  return 1
}

# wait_connected NODE: every peer session of the node is up (deadline 20 s)
wait_connected() {
  local n=$1 deadline=$((SECONDS + 20)) f=$WORK/tmp/conn.$1
  while [ $SECONDS -lt $deadline ]; do
    if px "$n" status --json > "$f" 2>/dev/null &&
       [ "$(jsq "$f" "(SELECT count(*) FROM json_each(j, '\$.peers') WHERE json_extract(value, '\$.connected'))")" = $(( ${#NODES[@]} - 1 )) ]; then
      pass; return 0
    fi
    sleep 0.2
  done
  fail "peer sessions up" "$n" "$(jsq "$f" "(SELECT group_concat(json_extract(value,'\$.id')||' connected='||json_extract(value,'\$.connected')||' error='||coalesce(json_extract(value,'\$.lastError'),'none'), '; ') FROM json_each(j,'\$.peers'))")"
}

# stop_daemon NODE SIGNAL
stop_daemon() {
  local n=$1 sig=$2 p
  p=${PID[$n]:-}
  [ -n "$p" ] || return 0
  {  # (bash reports a job killed by a signal on its stderr: not news here)
    kill -"$sig" "$p"
    for _ in $(seq 1 100); do kill -0 "$p" || break; sleep 0.1; done
    kill -KILL "$p"
    wait "$p"
    [ -n "${WRAP[$n]:-}" ] && wait "${WRAP[$n]}"
  } 2>/dev/null
  WRAP[$n]=""
  echo "===== chaos: pid $p stopped with SIG$sig $(date -u +%FT%T.%N)" >> "${LOGF[$n]}"
  PID[$n]=""
  # nothing else may serve this data directory now
  local left
  left=$(pgrep -f -- "serve --data-dir ${DIR[$n]}\$" | tr '\n' ' ')
  if [ -n "$left" ]; then fail "daemon stopped by SIG$sig" "$n" "pid $p is gone but $left still serve ${DIR[$n]}: $(ps -o pid,ppid,stat,args -p "${left// /,}" 2>&1 | tail -n +2 | tr '\n' ';')"; fi
}

# --- acknowledged writes --------------------------------------------------------
ACKED=$WORK/acked          # ORIGIN FIRST LAST
NAMES=$WORK/names          # FACILITY SEQ NAME (acknowledged updates)
PLEDGES=$WORK/pledges      # MEMBER DELTA (acknowledged adjustments)
UNCERTAIN=$WORK/uncertain  # records whose last attempted write failed
: > "$ACKED"; : > "$NAMES"; : > "$PLEDGES"; : > "$UNCERTAIN"

# ack NODE OUTPUT: records the entry ids of an acknowledged write; prints the last seq
ack() {
  local n=$1 out=$2 ids
  ids=$(grep -o '\(Committed\|entries\|entry\) [A-Z][A-Z]*:[0-9][0-9]*\(…[A-Z][A-Z]*:[0-9][0-9]*\)\{0,1\}' <<<"$out" | head -1 |
        grep -o '[A-Z][A-Z]*:[0-9][0-9]*')
  [ -n "$ids" ] || return 1
  local first last
  first=$(head -1 <<<"$ids"); last=$(tail -1 <<<"$ids")
  [ "${first%%:*}" = "$n" ] || return 1
  echo "$n ${first#*:} ${last#*:}" >> "$ACKED"
  echo "${last#*:}"
}

# write_one NODE I TAG [FAKETIME-OFFSET]: one CLI write of a kind chosen by I
write_one() {
  local n=$1 i=$2 tag=$3 skew=${4:-} out rc seq
  local run=(px "$n")
  [ -n "$skew" ] && run=(pxskew "$n" "$skew")
  local record="" name="" delta=""
  case $((i % 4)) in
    0) out=$("${run[@]}" facility create --id "$n-$tag" --name "chaos $tag" --kind stockpile --country "$n" --lat 1.5 --lon 2.5 2>&1) ;;
    1) name="home $tag"; record="$n-HOME"
       out=$("${run[@]}" facility update --id "$n-HOME" --name "$name" 2>&1) ;;
    2) out=$("${run[@]}" stock set --facility "$n-HOME" --mineral Nd --form oxide --quantity-kg $((RANDOM * 7 + i)) --as-of 2026-11-29 2>&1) ;;
    3) delta=$((RANDOM % 500 + 1)); record="PLEDGE-$n"
       out=$("${run[@]}" reserve pledge --reserve POOL-2027 --mineral Li --adjust "$delta" 2>&1) ;;
  esac
  rc=$?
  if [ $rc = 0 ]; then
    if ! seq=$(ack "$n" "$out"); then
      echo "$n write $tag exited 0 without 'Committed $n:SEQ': $out" >> "$WORK/bad-acks"
      [ -n "$record" ] && echo "$record" >> "$UNCERTAIN"
      return 1
    fi
    [ -n "$name" ] && echo "$record $seq $name" >> "$NAMES"
    [ -n "$delta" ] && echo "$n $delta" >> "$PLEDGES"
  else
    echo "$n write $tag failed ($rc): $(tail -1 <<<"$out")" >> "$WORK/write-errors"
    [ -n "$record" ] && echo "$record" >> "$UNCERTAIN"
  fi
  return $rc
}

# writer NODE COUNT TAG: COUNT writes in a row (run in the background)
writer() {
  local n=$1 count=$2 tag=$3 i
  for i in $(seq 1 "$count"); do write_one "$n" "$i" "${tag}W$i"; done
}

start_writers() { # COUNT TAG NODE...
  local count=$1 tag=$2; shift 2
  local n
  for n in "$@"; do writer "$n" "$count" "$tag" & WRITERS+=($!); done
}
wait_writers() { for w in "${WRITERS[@]}"; do wait "$w" 2>/dev/null; done; WRITERS=(); }

# import_rows NODE ROWS BATCH TAG: a CSV import of ROWS new facilities, BATCH rows per entry
import_rows() {
  local n=$1 rows=$2 batch=$3 tag=$4 csv=$WORK/tmp/import-$4.csv out
  { echo "id,name,kind,country,latitude,longitude"
    for i in $(seq 1 "$rows"); do echo "$n-$tag-$i,Imported facility $tag $i of the chaos suite,mine,$n,-$((i % 80)).5,1$((i % 70)).25"; done
  } > "$csv"
  if out=$(px "$n" import --table facilities "$csv" --batch "$batch" --quiet 2>&1) && ack "$n" "$out" >/dev/null; then
    return 0
  fi
  echo "$n import $tag failed: $out" >> "$WORK/write-errors"
  return 1
}

# --- convergence and invariants --------------------------------------------------
digest() { px "$1" digest 2>/dev/null | awk '{print $1}'; }

# converged NODE...: every given node has the same digest (prints them)
DIGESTS=""
converged() {
  local n d first="" ok=0
  DIGESTS=""
  for n in "$@"; do
    d=$(digest "$n"); DIGESTS+="$n=${d:0:12} "
    [ -n "$d" ] || ok=1
    if [ -z "$first" ]; then first=$d; elif [ "$d" != "$first" ]; then ok=1; fi
  done
  return $ok
}

# converge LABEL DEADLINE [NODE...]: wait until all nodes' digests agree
converge() {
  local label=$1 limit=$2 t=$(now); shift 2
  [ $FATAL -gt 0 ] && limit=5   # already failing: do not wait long for more of the same
  local deadline=$((SECONDS + limit))
  local nodes=("$@"); [ ${#nodes[@]} -gt 0 ] || nodes=("${NODES[@]}")
  while :; do
    if converged "${nodes[@]}"; then pass; CONVERGED_IN=$(since "$t"); return 0; fi
    [ $SECONDS -ge $deadline ] && break
    sleep 0.25
  done
  # name the node(s) off the majority digest
  local n counts majority odd=""
  majority=$(for n in "${nodes[@]}"; do digest "$n"; done | sort | uniq -c | sort -rn | awk 'NR==1{print $2}')
  for n in "${nodes[@]}"; do [ "$(digest "$n")" = "$majority" ] || odd+="$n "; done
  for n in $odd; do
    px "$n" status --json > "$WORK/tmp/st.$n" 2>/dev/null
    DIGESTS+=" | $n lag: $(jsq "$WORK/tmp/st.$n" "(SELECT group_concat(json_extract(value,'\$.origin')||' '||json_extract(value,'\$.heldSeq')||'/'||json_extract(value,'\$.knownSeq'), ', ') FROM json_each(j, '\$.origins'))"), held $(jsq "$WORK/tmp/st.$n" "json_array_length(j, '\$.held')")"
  done
  fail "digests equal ($label)" "${odd:-?}" "not converged after $limit s: $DIGESTS"
  return 1
}

# acked_sql: the acknowledged ranges as a VALUES list
acked_values() { awk 'BEGIN{s=""} {s = s (NR>1?",":"") "(\x27" $1 "\x27," $2 "," $3 ")"} END{print s}' "$ACKED"; }

# check_node LABEL NODE [allow-held|held-missing]: the per-node invariants
# (held-missing: entries are known to be held, so acknowledged writes may be absent)
check_node() {
  local label=$1 n=$2 allow_held=${3:-} d=${DIR[$2]} out f=$WORK/tmp/q.$2
  # 1. every signature and chain link
  if out=$(px "$n" log verify 2>&1); then pass; else fail "log verify ($label)" "$n" "$(tail -2 <<<"$out")"; fi
  # 2. SQLite integrity
  out=$(sq "$d/replica.sqlite" 'PRAGMA integrity_check' 2>&1)
  if [ "$out" = ok ]; then pass; else fail "integrity_check ($label)" "$n" "$(head -3 <<<"$out")"; fi
  # 3. nothing quarantined, blocked, equivocating or (outside phase 4) held
  if px "$n" quarantine --json > "$f" 2>&1; then
    out=$(jsq "$f" "json_array_length(j,'\$.quarantined')||' '||json_array_length(j,'\$.blockedOrigins')||' '||json_array_length(j,'\$.equivocations')||' '||json_array_length(j,'\$.held')")
    read -r nq nb ne nh <<<"$out"
    [ -n "$allow_held" ] && nh=0
    if [ "$nq $nb $ne $nh" = "0 0 0 0" ]; then pass
    else fail "nothing quarantined or held ($label)" "$n" "quarantined $nq, blocked origins $nb, equivocations $ne, held $nh: $(tr -d '\n ' < "$f" | cut -c1-400)"; fi
  else fail "paxsync quarantine runs ($label)" "$n" "$(cat "$f")"; fi
  [ "$allow_held" = held-missing ] && return 0
  # 4. every acknowledged write is in the log
  if [ -s "$ACKED" ]; then
    out=$(sq "$d/replica.sqlite" "WITH a(o, f, t) AS (VALUES $(acked_values))
      SELECT o || ':' || f || '..' || t FROM a
      WHERE (SELECT count(*) FROM paxsync_log WHERE origin = o AND seq BETWEEN f AND t) != t - f + 1 LIMIT 5" 2>&1)
    if [ -z "$out" ]; then pass
    else fail "acknowledged writes present ($label)" "$n" "missing from the log: $(tr '\n' ' ' <<<"$out")"; fi
    # the newest acknowledged entry of each origin, through the CLI: present, signature valid
    local o last
    for o in "${NODES[@]}"; do
      last=$(awk -v o="$o" '$1 == o && $3 > m {m = $3} END {print m}' "$ACKED")
      [ -n "$last" ] || continue
      out=$(px "$n" log show "$o:$last" 2>&1)
      if grep -q '^signature *valid' <<<"$out"; then pass
      else fail "acknowledged write $o:$last shown with a valid signature ($label)" "$n" "$(head -3 <<<"$out")"; fi
    done
  fi
  # 5. the newest acknowledged name of each facility, the sum of acknowledged pledges
  local rec seq name want got
  while read -r rec seq name; do
    grep -qx "$rec" "$UNCERTAIN" && continue
    got=$(sq "$d/replica.sqlite" "SELECT name FROM facilities WHERE id = '$rec'")
    if [ "$got" = "$name" ]; then pass
    else fail "newest acknowledged facility name ($label)" "$n" "$rec is '$got', expected '$name' ($rec's update at seq $seq)"; fi
  done < <(sort -k1,1 -k2,2n "$NAMES" | awk '{last[$1] = $0} END {for (k in last) print last[k]}')
  for o in "${NODES[@]}"; do
    grep -qx "PLEDGE-$o" "$UNCERTAIN" && continue
    want=$(awk -v o="$o" '$1 == o {s += $2} END {print s + 0}' "$PLEDGES")
    got=$(sq "$d/replica.sqlite" "SELECT coalesce(sum(share_kg), 0) FROM reserve_pledges WHERE reserve_id = 'POOL-2027' AND mineral = 'Li' AND member = '$o'")
    if [ "$got" = "$want" ]; then pass
    else fail "pledge equals the sum of acknowledged adjustments ($label)" "$n" "$o's share is $got kg, acknowledged adjustments sum to $want kg"; fi
  done
}

# conflicts_equal LABEL: `paxsync conflicts --json`, normalized, identical on every node
conflicts_equal() {
  local label=$1 n ref="" f
  for n in "${NODES[@]}"; do
    f=$WORK/tmp/conflicts.$n
    if ! px "$n" conflicts --json > "$f.json" 2>&1; then fail "paxsync conflicts runs ($label)" "$n" "$(cat "$f.json")"; continue; fi
    sqlite3 :memory: "SELECT json(value) FROM json_each(CAST(readfile('$f.json') AS TEXT)) ORDER BY 1" > "$f.norm"
    if [ -z "$ref" ]; then ref=$n; pass
    elif cmp -s "$WORK/tmp/conflicts.$ref.norm" "$f.norm"; then pass
    else fail "conflicts identical ($label)" "$n" "$n lists $(wc -l < "$f.norm") conflict(s), $ref $(wc -l < "$WORK/tmp/conflicts.$ref.norm"): $(diff "$WORK/tmp/conflicts.$ref.norm" "$f.norm" | head -4 | tr '\n' ' ' | cut -c1-400)"; fi
  done
}

# invariants LABEL [allow-held]: converge, then every check on every node
invariants() {
  local label=$1
  if [ -s "$WORK/bad-acks" ]; then
    fail "CLI acknowledgement format ($label)" "$(awk '{print $1; exit}' "$WORK/bad-acks")" "$(head -2 "$WORK/bad-acks")"
    : > "$WORK/bad-acks"
  fi
  converge "$label" 45 || return 1
  local n
  for n in "${NODES[@]}"; do check_node "$label" "$n" "${2:-}"; done
  conflicts_equal "$label"
}

# --- setup ---------------------------------------------------------------------
log "paxsync chaos suite: $("$BIN" --version 2>&1) from $BIN_SRC, seed $SEED$([ $QUICK = 1 ] && echo ', quick')"

for n in "${NODES[@]}"; do
  DIR[$n]=$WORK/$n
  LOGF[$n]=$WORK/$n.log
  : > "${LOGF[$n]}"
done

# the network: each node's namespace joined by a veth pair to a bridge in a hub
# namespace; 10.77.0.0/24 exists only inside them
build_netns() {
  local i=0 n
  ip netns add "$HUB" || return 1
  NETNS=1   # from here on, cleanup deletes what was made
  ip -n "$HUB" link add br0 type bridge && ip -n "$HUB" link set br0 up && ip -n "$HUB" link set lo up || return 1
  for n in "${NODES[@]}"; do
    i=$((i + 1))
    NS[$n]=$TAG$n
    ip netns add "${NS[$n]}" &&
    ip link add eth0 netns "${NS[$n]}" type veth peer name "v$n" netns "$HUB" &&
    ip -n "$HUB" link set "v$n" master br0 && ip -n "$HUB" link set "v$n" up &&
    ip -n "${NS[$n]}" addr add "10.77.0.$i/24" dev eth0 &&
    ip -n "${NS[$n]}" link set eth0 up && ip -n "${NS[$n]}" link set lo up || return 1
    ADDR[$n]=10.77.0.$i:7400          # a fresh namespace: the port is free
  done
}
if [ "${CHAOS_NETNS:-1}" = 0 ]; then
  why="CHAOS_NETNS=0"
elif build_netns 2>"$WORK/tmp/netns.err"; then
  why=""
else
  why="network namespaces are not available here: $(head -1 "$WORK/tmp/netns.err")"
  for n in "${NODES[@]}"; do [ -n "${NS[$n]:-}" ] && ip netns del "${NS[$n]}" 2>/dev/null; NS[$n]=""; done
  ip netns del "$HUB" 2>/dev/null
  NETNS=0
fi
if [ -n "$why" ]; then
  SKIPS+=("network partitions: $why; the daemons run on loopback")
  log "partitions will be skipped: $why"
  i=0
  for n in "${NODES[@]}"; do
    # loopback: a port nobody listens on, from a range that depends on the pid
    i=$((i + 1))
    port=$(( 20000 + ($$ * 7 + i * 131) % 30000 ))
    while ss -ltnH "sport = :$port" 2>/dev/null | grep -q .; do port=$((port + 1)); done
    ADDR[$n]=127.0.0.1:$port
  done
fi

# KR's data directory is a tmpfs (mounted before any daemon starts: `ip netns exec`
# gives each process its own mount namespace, and / may be private)
mkdir -p "${DIR[$DISK_NODE]}"
if mount -t tmpfs -o size=64m,mode=0700 "chaos-$DISK_NODE" "${DIR[$DISK_NODE]}" 2>"$WORK/tmp/mount.err"; then
  MOUNTED=${DIR[$DISK_NODE]}
else
  SKIPS+=("full and read-only disk: cannot mount a tmpfs ($(head -1 "$WORK/tmp/mount.err"))")
  log "the disk phase will be skipped: cannot mount a tmpfs"
fi

"$BIN" ca init --dir "$WORK/ca" >/dev/null || exit 1
for n in "${NODES[@]}"; do
  "$BIN" node init --node-id "$n" --data-dir "${DIR[$n]}" --address "${ADDR[$n]}" >/dev/null &&
  "$BIN" ca issue --ca "$WORK/ca" --node-id "$n" --out "${DIR[$n]}/tls" >/dev/null || { echo "chaos: cannot create node $n" >&2; exit 1; }
  sed -i 's/^max_clock_skew_seconds = .*/max_clock_skew_seconds = 30/' "${DIR[$n]}/paxsync.conf"
done
for n in "${NODES[@]}"; do
  for m in "${NODES[@]}"; do
    [ "$n" = "$m" ] || "$BIN" roster add --data-dir "${DIR[$n]}" --from "${DIR[$m]}/roster.json" >/dev/null || exit 1
  done
done
for n in "${NODES[@]}"; do start_daemon "$n"; done
for n in "${NODES[@]}"; do wait_ready "$n"; done
stop_if_failed

for n in "${NODES[@]}"; do
  out=$(px "$n" facility create --id "$n-HOME" --name "home of $n" --kind port --country "$n" --lat 10.5 --lon 100.5 2>&1) && ack "$n" "$out" >/dev/null ||
    fail "setup write" "$n" "$out"
  out=$(px "$n" reserve pledge --reserve POOL-2027 --mineral Li --adjust 1000 2>&1) && ack "$n" "$out" >/dev/null && echo "$n 1000" >> "$PLEDGES" ||
    fail "setup write" "$n" "$out"
done
converge "setup" 30
out=$(px AU shipment create --id AU-SHP-1 --mineral Nd --form oxide --quantity-kg 20000 --from AU-HOME --to JP-HOME --importer JP --eta 2027-01-10T00:00:00Z 2>&1) &&
  ack AU "$out" >/dev/null || fail "setup write" AU "$out"
invariants "setup"
stop_if_failed
log "setup: 3 daemons ($([ $NETNS = 1 ] && echo "network namespaces, ${ADDR[AU]} ${ADDR[JP]} ${ADDR[KR]}" || echo loopback)), converged"

# --- phase 1: SIGKILL during catch-up and during live writes ------------------------
KILL_ROUNDS=6; [ $QUICK = 1 ] && KILL_ROUNDS=3
log_count() { sq "${DIR[$1]}/replica.sqlite" 'SELECT count(*) FROM paxsync_log' 2>/dev/null || echo 0; }
# missing_from NODE OTHER: entries OTHER holds that NODE does not
missing_from() {
  sq "${DIR[$1]}/replica.sqlite" "ATTACH '${DIR[$2]}/replica.sqlite' AS o;
    SELECT count(*) FROM o.paxsync_log x WHERE NOT EXISTS (SELECT 1 FROM main.paxsync_log l WHERE l.origin = x.origin AND l.seq = x.seq)" 2>/dev/null || echo 0
}

for r in $(seq 1 "$KILL_ROUNDS"); do
  ROUNDS=$((ROUNDS + 1))
  tag=K$r
  # every node is a victim both during catch-up (odd rounds) and live writes (even
  # rounds); the seed picks where the rotation starts
  victim=${NODES[$(( (SEED + r) % 3 ))]}
  victims=("$victim")
  if [ $((r % 2)) = 1 ]; then
    # catch-up: the victim dies, misses a backlog, restarts, and dies again mid-catch-up
    stop_daemon "$victim" KILL; FAULTS=$((FAULTS + 1))
    others=(); for n in "${NODES[@]}"; do [ "$n" = "$victim" ] || others+=("$n"); done
    start_writers 6 "$tag" "${NODES[@]}"
    import_rows "${others[$((RANDOM % 2))]}" 1000 2 "${tag}I"
    wait_writers
    converge "round $r backlog" 30 "${others[@]}"
    before=$(log_count "$victim")
    missing=$(missing_from "$victim" "${others[0]}")
    start_daemon "$victim"
    # kill it once it has applied a random 5-60 % of what it lacked
    goal=$(( before + 1 + missing * (5 + RANDOM % 56) / 100 ))
    deadline=$((SECONDS + 20))
    while [ $SECONDS -lt $deadline ] && [ "$(log_count "$victim")" -lt $goal ]; do sleep 0.01; done
    sleep "0.0$((RANDOM % 10))"   # sometimes inside the next batch's transaction
    stop_daemon "$victim" KILL; FAULTS=$((FAULTS + 1))
    how="killed during catch-up, $(( missing - $(missing_from "$victim" "${others[0]}") )) of the $missing entries it lacked applied"
    start_daemon "$victim"; wait_ready "$victim"
  else
    # live: writers at every node, and one daemon (two in round 4) killed in the middle
    [ $r = 4 ] && victims+=("${NODES[$(( (SEED + r + 1) % 3 ))]}")   # two of the three at once
    start_writers 10 "$tag" "${NODES[@]}"
    sleep "0.$(printf '%03d' $((200 + RANDOM % 600)))"
    for v in "${victims[@]}"; do stop_daemon "$v" KILL; FAULTS=$((FAULTS + 1)); done
    how="killed during live writes"
    sleep 0.5
    for v in "${victims[@]}"; do start_daemon "$v"; done
    for v in "${victims[@]}"; do wait_ready "$v"; done
    wait_writers
  fi
  invariants "kill round $r"
  log "round $r: ${victims[*]} $how; converged in ${CONVERGED_IN:-?} s; $(awk '{s += $3 - $2 + 1} END {print s}' "$ACKED") acknowledged entries present everywhere"
  stop_if_failed
done

# --- phase 2: partitions --------------------------------------------------------
# has NODE ORIGIN:SEQ — the entry is in the node's log
has() { [ "$(sq "${DIR[$1]}/replica.sqlite" "SELECT count(*) FROM paxsync_log WHERE origin = '${2%%:*}' AND seq = ${2#*:}")" = 1 ]; }
# expect_reach FROM TO yes|no LABEL: a TCP connection from FROM's namespace to TO's daemon
# (a connection that should work is retried for 10 s: a veth's carrier comes back
# up asynchronously after `ip link set up`)
expect_reach() {
  local got=no addr=${ADDR[$2]} deadline=$((SECONDS + 10))
  while :; do
    nsexec "$1" timeout 1 bash -c "exec 3<>/dev/tcp/${addr%:*}/${addr#*:}" 2>/dev/null && { got=yes; break; }
    [ "$3" = yes ] && [ $SECONDS -lt $deadline ] || break
    sleep 0.2
  done
  if [ $got = "$3" ]; then pass
  else fail "$1 $([ "$3" = yes ] && echo reaches || echo "cannot reach") $2 ($4)" "$1" "a TCP connection to $addr: $got"; fi
}
eta() { printf '2027-%02d-%02dT%02d:00:00Z' $((1 + RANDOM % 12)) $((1 + RANDOM % 28)) $((RANDOM % 24)); }

# conflict_write NODE TAG: the shipment's ETA from NODE (AU exporter, JP importer)
conflict_write() {
  local out
  if out=$(px "$1" shipment update --id AU-SHP-1 --eta "$(eta)" 2>&1) && ack "$1" "$out" > "$WORK/tmp/seq.$1"; then return 0; fi
  echo "$1 shipment update failed: $out" >> "$WORK/write-errors"; return 1
}

if [ $NETNS = 1 ]; then
  # 2a. AU cut off (its link to the bridge down); both sides edit AU-SHP-1
  ROUNDS=$((ROUNDS + 1))
  ip -n "$HUB" link set vAU down; FAULTS=$((FAULTS + 1))
  expect_reach AU JP no "AU cut off"; expect_reach JP AU no "AU cut off"; expect_reach JP KR yes "AU cut off"
  conflict_write AU; au_seq=$(cat "$WORK/tmp/seq.AU")
  conflict_write JP; jp_seq=$(cat "$WORK/tmp/seq.JP")
  start_writers 6 P1 "${NODES[@]}"; wait_writers
  converge "partition: JP and KR" 30 JP KR
  if has AU "JP:$jp_seq" || has KR "AU:$au_seq"; then
    fail "partition holds (AU cut off)" AU "entries crossed a downed link: AU has JP:$jp_seq? $(has AU "JP:$jp_seq" && echo yes || echo no)"
  else pass; fi
  sleep 1
  if has AU "JP:$jp_seq"; then fail "partition holds (AU cut off)" AU "JP:$jp_seq reached AU"; else pass; fi
  ip -n "$HUB" link set vAU up
  expect_reach AU JP yes "healed"
  invariants "heal after AU cut off"
  if grep -q '"AU-SHP-1"' "$WORK/tmp/conflicts.AU.json" && grep -q '"eta"' "$WORK/tmp/conflicts.AU.json"; then pass
  else fail "concurrent ETA edits across the cut show as a conflict" AU "$(tr -d '\n ' < "$WORK/tmp/conflicts.AU.json" | cut -c1-300)"; fi
  log "partition 1: AU cut off (link down) while AU and JP edited AU-SHP-1; healed, converged in $CONVERGED_IN s, $(wc -l < "$WORK/tmp/conflicts.AU.norm") conflict(s) identical everywhere"
  stop_if_failed

  # 2b. one-way cut: AU's packets to JP are dropped (blackhole); KR relays
  ROUNDS=$((ROUNDS + 1))
  ip -n "${NS[AU]}" route add blackhole 10.77.0.2/32; FAULTS=$((FAULTS + 1))
  expect_reach AU JP no "AU->JP blackholed"; expect_reach AU KR yes "AU->JP blackholed"; expect_reach KR JP yes "AU->JP blackholed"
  conflict_write AU; conflict_write JP
  start_writers 6 P2 "${NODES[@]}"; wait_writers
  converge "one-way cut AU->JP, relayed by KR" 40
  during=$CONVERGED_IN
  ip -n "${NS[AU]}" route del blackhole 10.77.0.2/32
  expect_reach AU JP yes "healed"
  invariants "heal after one-way cut AU->JP"
  log "partition 2: AU->JP blackholed; converged through KR in $during s during the cut; healed"
  stop_if_failed

  if [ $QUICK = 0 ]; then
    # 2c. one-way cut: KR may not send to AU (prohibit: an immediate error); JP relays
    ROUNDS=$((ROUNDS + 1))
    ip -n "${NS[KR]}" route add prohibit 10.77.0.1/32; FAULTS=$((FAULTS + 1))
    expect_reach KR AU no "KR->AU prohibited"; expect_reach KR JP yes "KR->AU prohibited"; expect_reach JP AU yes "KR->AU prohibited"
    conflict_write AU; conflict_write JP
    start_writers 6 P3 "${NODES[@]}"; wait_writers
    converge "one-way cut KR->AU, relayed by JP" 40
    during=$CONVERGED_IN
    ip -n "${NS[KR]}" route del prohibit 10.77.0.1/32
    invariants "heal after one-way cut KR->AU"
    log "partition 3: KR->AU prohibited; converged through JP in $during s during the cut; healed"
    stop_if_failed
  fi
else
  SKIPPED=$((SKIPPED + 1))
  log "phase 2 (partitions) skipped: no network namespaces"
fi

# --- phase 3: KR's disk full, then read-only ----------------------------------------
# readers_do_not_write NODE (its daemon stopped): with the WAL reset, `paxsync log
# verify` and `paxsync digest` must not commit anything to the replica (a
# connection held open across them sees PRAGMA data_version change if they do).
# A reader that writes cannot run on a full or read-only disk.
readers_do_not_write() {
  local n=$1 v0 v1 v2 ck wal=${DIR[$1]}/replica.sqlite-wal
  coproc HELD { sqlite3 -cmd '.timeout 10000' "${DIR[$n]}/replica.sqlite" 2>&1; }
  echo "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA data_version;" >&"${HELD[1]}"
  read -r -t 15 -u "${HELD[0]}" ck; read -r -t 15 -u "${HELD[0]}" v0
  px "$n" log verify >/dev/null 2>&1
  echo "PRAGMA data_version;" >&"${HELD[1]}"; read -r -t 15 -u "${HELD[0]}" v1
  local grew; grew=$(stat -c %s "$wal" 2>/dev/null || echo 0)
  px "$n" digest >/dev/null 2>&1
  echo "PRAGMA data_version;" >&"${HELD[1]}"; read -r -t 15 -u "${HELD[0]}" v2
  echo ".quit" >&"${HELD[1]}"; wait "$HELD_PID" 2>/dev/null
  if [ -n "$v0" ] && [ "$v0" = "$v1" ] && [ "$v1" = "$v2" ]; then pass
  else SOFT=1 fail "read commands leave the replica untouched" "$n" "with the WAL checkpointed (TRUNCATE) and no daemon, \`paxsync log verify\` committed a write to the replica: PRAGMA data_version $v0 -> $v1 (-wal 0 -> $grew bytes), \`paxsync digest\` then -> $v2. Opening the replica commits a write transaction, so on a full disk these commands fail with 'cannot open the replica (SQLite error 13 ... COMMIT TRANSACTION)' at random (whenever the WAL has no space to reuse)"; fi
}

D=${DIR[$DISK_NODE]}
if [ -n "$MOUNTED" ]; then
  ROUNDS=$((ROUNDS + 1))
  # checkpoint the WAL down to nothing, so the full disk bites at the next write
  sq "$D/replica.sqlite" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
  mark=$(wc -l < "${LOGF[$DISK_NODE]}")
  # fill it while entries stream in, then send more once it is full
  start_writers 4 D1 AU JP
  cat /dev/zero > "$D/filler" 2>/dev/null; FAULTS=$((FAULTS + 1))
  log "disk: $DISK_NODE's tmpfs full ($(df -h --output=used,size "$D" | tail -1 | xargs)) while AU and JP write"
  wait_writers
  import_rows AU 1500 50 D1
  converge "disk full: AU and JP" 30 AU JP
  # the CLI at the full node refuses to write, clearly
  if out=$(px "$DISK_NODE" facility update --id "$DISK_NODE-HOME" --name "written on a full disk" 2>&1); then
    seq=$(ack "$DISK_NODE" "$out") && echo "$DISK_NODE-HOME $seq written on a full disk" >> "$NAMES"
    cli_full="acknowledged (SQLite still had room): $out"
    pass
  elif grep -qi 'full\|space' <<<"$out"; then pass; cli_full="refused: $(sed 's/.*(SQLite/(SQLite/' <<<"$out" | cut -c1-80)"
  else SOFT=1 fail "CLI reports the full disk" "$DISK_NODE" "$out"; echo "$DISK_NODE-HOME" >> "$UNCERTAIN"; fi
  # the node cannot store the backlog; its daemon survives and says why
  sleep 2
  behind=$(( $(log_count AU) - $(log_count "$DISK_NODE") ))
  if [ $behind -gt 0 ]; then pass; else fail "the full disk stops $DISK_NODE (scenario)" "$DISK_NODE" "it holds every entry although its disk is full"; fi
  if running "$DISK_NODE"; then pass; else SOFT=1 fail "daemon survives a full disk" "$DISK_NODE" "paxsync serve exited"; fi
  reported=""
  deadline=$((SECONDS + 6))
  while [ $SECONDS -lt $deadline ]; do
    px "$DISK_NODE" status --json > "$WORK/tmp/st.full" 2>/dev/null
    if tail -n +"$((mark + 1))" "${LOGF[$DISK_NODE]}" | grep -qi 'disk is full\|SQLITE_FULL\|no space\|disk full\|database or disk'; then reported="serve log"; break; fi
    if grep -qi 'disk is full\|no space\|disk full\|database or disk' "$WORK/tmp/st.full"; then reported="status"; break; fi
    sleep 0.5
  done
  if [ -n "$reported" ]; then pass
  else
    SOFT=1 fail "daemon reports the full disk" "$DISK_NODE" "$behind entries behind AU, daemon running, but neither its serve log (level info) nor \`paxsync status\` (peers' last error: $(jsq "$WORK/tmp/st.full" "(SELECT group_concat(json_extract(value,'\$.id')||'='||coalesce(json_extract(value,'\$.lastError'),'none'), ', ') FROM json_each(j,'\$.peers'))")) mentions it; its peers log: $(grep -h "peer=$DISK_NODE.*ended" "${LOGF[AU]}" "${LOGF[JP]}" | tail -1 | sed -n 's/.*error=\(.*\) node=.*/\1/p')"
  fi
  # nothing is corrupted meanwhile
  # (`paxsync log verify` here is informational: whether it can run depends on
  # whether SQLite has WAL space to reuse; the write it attempts at open is
  # checked deterministically in the read-only round below)
  if out=$(px "$DISK_NODE" log verify 2>&1); then verify_full="ran"; else verify_full="refused: $(tail -1 <<<"$out" | sed 's/.*(SQLite/(SQLite/' | cut -c1-70)"; fi
  out=$(sq "$D/replica.sqlite" 'PRAGMA integrity_check' 2>&1)
  if [ "$out" = ok ]; then pass; else fail "integrity_check on a full disk" "$DISK_NODE" "$out"; fi
  mount -o remount,size=256m "$D" || fail "grow the tmpfs" "$DISK_NODE" "mount -o remount,size=256m failed"
  running "$DISK_NODE" || { start_daemon "$DISK_NODE"; wait_ready "$DISK_NODE"; }
  invariants "disk grown"
  log "disk: $DISK_NODE was $behind entries behind on a full disk (daemon reported it: ${reported:-no}; a CLI write there: ${cli_full:-?}; log verify there: $verify_full); grown to 256 MB, caught up in $CONVERGED_IN s"
  rm -f "$D/filler"
  stop_if_failed

  # read-only: the kernel refuses to remount ro while a process holds files open
  # for writing, so the daemon is killed first if the live remount is refused
  ROUNDS=$((ROUNDS + 1))
  if mount -o remount,ro "$D" 2>"$WORK/tmp/ro.err"; then
    ro_how="live (daemon running)"
  else
    ro_how="after SIGKILL (live remount refused: $(head -1 "$WORK/tmp/ro.err" | sed 's/^mount: //'))"
    stop_daemon "$DISK_NODE" KILL; FAULTS=$((FAULTS + 1))
    readers_do_not_write "$DISK_NODE"
    if mount -o remount,ro "$D" 2>"$WORK/tmp/ro.err"; then pass
    else fail "remount read-only" "$DISK_NODE" "$(cat "$WORK/tmp/ro.err")"; finish; fi
  fi
  FAULTS=$((FAULTS + 1))
  start_writers 4 R1 AU JP
  if out=$(px "$DISK_NODE" facility update --id "$DISK_NODE-HOME" --name "written on a read-only disk" 2>&1); then
    fail "no write acknowledged on a read-only disk" "$DISK_NODE" "$out"
  else pass; fi
  if running "$DISK_NODE"; then
    sleep 2
    if running "$DISK_NODE"; then pass; else SOFT=1 fail "daemon survives a read-only disk" "$DISK_NODE" "paxsync serve exited"; fi
  else
    # a daemon started on a read-only disk must refuse with a clear error, not limp on
    rmark=$(wc -l < "${LOGF[$DISK_NODE]}")
    start_daemon "$DISK_NODE"
    for _ in $(seq 1 100); do running "$DISK_NODE" || break; sleep 0.1; done
    if running "$DISK_NODE"; then
      ro_how+="; the daemon runs on it"
    else
      wait "${PID[$DISK_NODE]}" 2>/dev/null; rc=$?; PID[$DISK_NODE]=""
      err=$(tail -n +"$((rmark + 1))" "${LOGF[$DISK_NODE]}" | grep -i 'error' | tail -1)
      if [ $rc != 0 ] && [ -n "$err" ]; then pass; ro_how+="; serve refused to start: ${err:0:110}"
      else SOFT=1 fail "daemon on a read-only disk exits with an error" "$DISK_NODE" "exit status $rc, log: $err"; fi
    fi
  fi
  wait_writers
  converge "read-only: AU and JP" 30 AU JP
  mount -o remount,rw "$D" || { fail "remount read-write" "$DISK_NODE" "mount -o remount,rw failed"; finish; }
  running "$DISK_NODE" || { start_daemon "$DISK_NODE"; wait_ready "$DISK_NODE"; }
  invariants "disk read-write again"
  log "disk: $DISK_NODE read-only $ro_how; rw again, caught up in $CONVERGED_IN s"
  stop_if_failed
else
  SKIPPED=$((SKIPPED + 1))
  log "phase 3 (disk) skipped: no tmpfs"
fi

# --- phase 4: clock skew ---------------------------------------------------------
# held_at NODE ORIGIN:SEQ — the entry is held there for clock skew
held_at() {
  px "$1" status --json > "$WORK/tmp/held.$1" 2>/dev/null &&
    [ "$(jsq "$WORK/tmp/held.$1" "(SELECT count(*) FROM json_each(j,'\$.held') WHERE json_extract(value,'\$.entry') = '$2' AND json_extract(value,'\$.code') = 'clock-skew')")" = 1 ]
}
held_count() { px "$1" quarantine --json > "$WORK/tmp/hc.$1" 2>/dev/null; jsq "$WORK/tmp/hc.$1" "json_array_length(j,'\$.held')"; }

# skew_round OFFSET LABEL: JP (clock OFFSET ahead) writes; AU and KR must hold it
RECEIVERS=(); for n in "${NODES[@]}"; do [ "$n" = "$SKEW_NODE" ] || RECEIVERS+=("$n"); done
skew_writes() {
  local off=$1 tag=$2 i
  SKEWED=()
  for i in 1 3 2; do
    if write_one "$SKEW_NODE" "$i" "$tag$i" "$off"; then
      SKEWED+=("$SKEW_NODE:$(awk -v o="$SKEW_NODE" '$1 == o {l = $3} END {print l}' "$ACKED")")
    fi
  done
  [ ${#SKEWED[@]} -gt 0 ] || fail "writes under faketime $off" "$SKEW_NODE" "$(tail -3 "$WORK/write-errors" 2>/dev/null)"
}
# expect_held LABEL: every receiver holds the first skewed entry (within 10 s) and has not applied it
expect_held() {
  local n e=${SKEWED[0]} deadline
  for n in "${RECEIVERS[@]}"; do
    deadline=$((SECONDS + 10))
    until held_at "$n" "$e" || [ $SECONDS -ge $deadline ]; do sleep 0.2; done
    if held_at "$n" "$e" && ! has "$n" "$e"; then pass
    else fail "entry beyond the skew bound is held ($1)" "$n" "$e: held? $(held_at "$n" "$e" && echo yes || echo no), applied? $(has "$n" "$e" && echo yes || echo no); held: $(tr -d '\n ' < "$WORK/tmp/held.$n" | grep -o '"held":\[[^]]*\]' | cut -c1-300)"; fi
  done
}

if [ $HAVE_FAKETIME = 1 ]; then
  # 4a. +40 s against a 30 s bound: held about 10 s, then released by the retrier
  ROUNDS=$((ROUNDS + 1))
  stop_daemon "$SKEW_NODE" TERM; start_daemon "$SKEW_NODE" +40s; wait_ready "$SKEW_NODE"; FAULTS=$((FAULTS + 1))
  for n in "${NODES[@]}"; do wait_connected "$n"; done   # the skewed entries go out at once
  t=$(now)
  skew_writes +40s S1
  expect_held "+40 s"
  converge "+40 s skew released by time" 45
  released=$(since "$t")
  invariants "+40 s skew"
  log "skew 1: $SKEW_NODE's clock +40 s, bound 30 s: ${SKEWED[*]} held by ${RECEIVERS[*]}, released by the clock after $released s"
  stop_if_failed

  # 4b. +10 min: held; then the receivers raise the bound to 900 s and restart
  ROUNDS=$((ROUNDS + 1))
  stop_daemon "$SKEW_NODE" TERM; start_daemon "$SKEW_NODE" +10m; wait_ready "$SKEW_NODE"; FAULTS=$((FAULTS + 1))
  for n in "${NODES[@]}"; do wait_connected "$n"; done
  skew_writes +10m S2
  start_writers 3 S2 "${RECEIVERS[@]}"; wait_writers
  expect_held "+10 min"
  stop_if_failed
  sleep 2
  for n in "${RECEIVERS[@]}"; do
    if has "$n" "${SKEWED[0]}"; then fail "held entry stays held while beyond the bound" "$n" "${SKEWED[0]} was applied"; else pass; fi
  done
  for n in "${RECEIVERS[@]}"; do
    sed -i 's/^max_clock_skew_seconds = .*/max_clock_skew_seconds = 900/' "${DIR[$n]}/paxsync.conf"
    stop_daemon "$n" TERM; start_daemon "$n"; wait_ready "$n"
  done
  t=$(now)
  deadline=$((SECONDS + 20))
  while [ $SECONDS -lt $deadline ]; do
    all=0; for n in "${RECEIVERS[@]}"; do [ "$(held_count "$n")" = 0 ] || all=1; done
    [ $all = 0 ] && break
    sleep 0.5
  done
  released=""
  for n in "${RECEIVERS[@]}"; do
    if [ "$(held_count "$n")" = 0 ]; then pass; released+="$n "
    else
      e=${SKEWED[0]}
      fail "held entries released once within the raised bound (max_clock_skew_seconds 30 -> 900, restarted)" "$n" "after 20 s $(held_count "$n") entries still held, e.g. $(px "$n" quarantine 2>/dev/null | grep "^$e " | tr -s ' ' | cut -c1-200); the stored release time (paxsync_held.wait_until) is $(sq "${DIR[$n]}/replica.sqlite" "SELECT (wait_until - strftime('%s','now') * 1000) / 1000 FROM paxsync_held WHERE origin = '${e%%:*}' AND seq = ${e#*:}") s from now, computed with the old 30 s bound"
    fi
  done
  if [ -n "$released" ]; then invariants "+10 min skew, bound raised" allow-held
  else
    for n in "${NODES[@]}"; do check_node "+10 min skew (held)" "$n" held-missing; done
  fi
  log "skew 2: $SKEW_NODE's clock +10 min: ${SKEWED[*]} held; bound raised to 900 s and restarted: released on ${released:-none }in $(since "$t") s"
else
  SKIPPED=$((SKIPPED + 1))
  SKIPS+=("clock skew: faketime (libfaketime) is not installed and could not be installed")
  log "phase 4 (clock skew) skipped: no faketime"
fi

finish
