#!/usr/bin/env bash
# PostgreSQL logical replication over TLS between two local clusters, as the
# baseline of `paxsync-bench pg` (which runs this script and prints its figures
# beside paxsync's). Installs nothing: it needs PostgreSQL's server binaries
# (Debian: apt-get install -y postgresql) and openssl.
#
#   Benchmarks/pg-logical-replication.sh ROWS TRANSACTIONS ROWS_PER_TRANSACTION
#
# Environment: PG_MINERALS and PG_FORMS, comma-separated code lists, make the
# rows the same as paxsync-bench's (`StockRows`): row i is facility AU-F(i / per
# facility), mineral, form, quantity 1000 + i, grade (i % 1000) / 10, as of
# 2026-11-28.
#
# 1. Cluster A holds ROWS rows of a stocks table; B subscribes (sslmode=require):
#    the initial copy is timed from CREATE SUBSCRIPTION until B's copy is ready.
# 2. Streaming: A commits TRANSACTIONS transactions of ROWS_PER_TRANSACTION new
#    rows (synchronous_commit on, as PostgreSQL ships); timed from the first
#    commit until B holds every row.
#
# Prints lines `pg KEY=VALUE` for the bench to read; progress goes to stderr.
# Exits 3 when PostgreSQL is not installed.
set -euo pipefail

rows=${1:-1000000}
transactions=${2:-10000}
per_transaction=${3:-100}
minerals=${PG_MINERALS:-Li,Co,Ni}
forms=${PG_FORMS:-ore,concentrate}

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
  echo "PostgreSQL's server binaries are not installed (looked in /usr/lib/postgresql/*/bin):" \
       "apt-get install -y postgresql" >&2
  exit 3
fi
command -v openssl >/dev/null || { echo "openssl not found: apt-get install -y openssl" >&2; exit 3; }

root=$(mktemp -d /tmp/paxsync-bench-pg.XXXXXX)
as_pg() {
  if [[ $(id -u) == 0 ]]; then /usr/sbin/runuser -u postgres -- "$@"; else "$@"; fi
}
if [[ $(id -u) == 0 ]]; then chown postgres "$root"; fi
chmod 755 "$root"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port_a=$(free_port)
port_b=$(free_port)

stop() {
  for c in a b; do
    [[ -f "$root/$c/postmaster.pid" ]] && as_pg "$bin/pg_ctl" -D "$root/$c" -m immediate stop >/dev/null 2>&1 || true
  done
  rm -rf "$root"
}
trap stop EXIT

start_cluster() { # NAME PORT
  local c=$1 port=$2
  as_pg "$bin/initdb" -D "$root/$c" -A trust -U postgres >/dev/null
  as_pg openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
    -keyout "$root/$c/server.key" -out "$root/$c/server.crt" >/dev/null 2>&1
  as_pg chmod 600 "$root/$c/server.key"
  cat <<EOF | as_pg tee -a "$root/$c/postgresql.conf" >/dev/null
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$root'
ssl = on
wal_level = logical
max_wal_size = 4GB
EOF
  echo "hostssl all all 127.0.0.1/32 trust" | as_pg tee -a "$root/$c/pg_hba.conf" >/dev/null
  as_pg "$bin/pg_ctl" -D "$root/$c" -l "$root/$c.log" -w start </dev/null >/dev/null 2>&1
}

psql_at() { # PORT SQL...
  local port=$1; shift
  as_pg "$bin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$root" -p "$port" -U postgres -d postgres "$@"
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

echo "pg: starting two clusters (TLS on 127.0.0.1:$port_a and :$port_b)" >&2
start_cluster a "$port_a"
start_cluster b "$port_b"

table="CREATE TABLE stocks (facility_id text NOT NULL, mineral text NOT NULL, form text NOT NULL,
  quantity_kg bigint NOT NULL, grade_pct double precision, as_of text NOT NULL, PRIMARY KEY (facility_id, mineral, form));"
psql_at "$port_a" -c "$table"
psql_at "$port_b" -c "$table"

# Row i of StockRows, as SQL over a series.
nforms=$(awk -F, '{print NF}' <<<"$forms")
nminerals=$(awk -F, '{print NF}' <<<"$minerals")
per=$((nforms * nminerals))
select_rows() { # FROM TO (exclusive)
  echo "SELECT 'AU-F' || (i / $per), (string_to_array('$minerals', ','))[(i % $per) / $nforms + 1],
    (string_to_array('$forms', ','))[i % $nforms + 1], 1000 + i, (i % 1000) / 10.0, '2026-11-28'
    FROM generate_series($1, $2 - 1) AS i"
}

echo "pg: loading $rows rows into A" >&2
psql_at "$port_a" -c "INSERT INTO stocks $(select_rows 0 "$rows")"
psql_at "$port_a" -c "CREATE PUBLICATION bench FOR TABLE stocks"

echo "pg: B subscribes; initial copy" >&2
began=$(now)
psql_at "$port_b" -c "CREATE SUBSCRIPTION bench CONNECTION 'host=127.0.0.1 port=$port_a user=postgres dbname=postgres sslmode=require' PUBLICATION bench"
until [[ $(psql_at "$port_b" -c "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate NOT IN ('r', 's')") == 0 ]]; do sleep 0.05; done
copied=$(now)
held=$(psql_at "$port_b" -c "SELECT count(*) FROM stocks")
[[ $held == "$rows" ]] || { echo "pg: B holds $held rows after the initial copy, expected $rows" >&2; exit 1; }
echo "pg initial_copy_seconds=$(elapsed "$began" "$copied") rows=$rows"

echo "pg: A commits $transactions transactions of $per_transaction rows while B is subscribed" >&2
script="$root/stream.sql"
{
  for ((t = 0; t < transactions; t++)); do
    from=$((rows + t * per_transaction))
    echo "INSERT INTO stocks $(select_rows "$from" $((from + per_transaction)));"
  done
} >"$script"
chmod 644 "$script"
total=$((rows + transactions * per_transaction))
began=$(now)
psql_at "$port_a" -f "$script"
committed=$(now)
until [[ $(psql_at "$port_b" -c "SELECT count(*) FROM stocks") == "$total" ]]; do sleep 0.05; done
streamed=$(now)
# The walsender's connection is the TLS one the subscription opened.
tls=$(psql_at "$port_a" -c "SELECT bool_and(s.ssl) FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)")
echo "pg streaming_seconds=$(elapsed "$began" "$streamed") commits_seconds=$(elapsed "$began" "$committed")" \
     "transactions=$transactions rows_per_transaction=$per_transaction"
echo "pg version=$("$bin/postgres" --version | awk '{print $3}') tls=$tls"
