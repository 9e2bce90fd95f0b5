#!/bin/sh
# One-shot setup of the local five-member coalition in Deploy/compose.yaml.
#
# Creates the coalition CA, then for each member a node (signing key, config,
# roster, empty replica) and a TLS certificate; merges every node's roster
# entry into every other node's roster; sets each node to listen on
# 0.0.0.0:7400 (and AU to serve metrics on 0.0.0.0:9464); finally hands the
# node directories to uid 10001, the image's `paxsync` user.
#
# Idempotent: every step is skipped when its result already exists, and a run
# after a complete setup only checks the nodes and exits. Start again from
# scratch with `docker compose -f Deploy/compose.yaml down -v`.
#
# Settings (environment; compose.yaml sets the host addresses):
#   PAXSYNC_NODES          member ids                  (default "SG AU JP KR IL")
#   PAXSYNC_HOST_<ID>      host peers dial for <ID>    (default: lowercase id, the service name)
#   PAXSYNC_METRICS_NODES  ids that serve metrics      (default "AU")
#   CA_DIR, NODES_DIR      where the volumes are       (defaults /ca and /nodes)
set -eu

CA_DIR=${CA_DIR:-/ca}
NODES_DIR=${NODES_DIR:-/nodes}
NODES=${PAXSYNC_NODES:-SG AU JP KR IL}
METRICS_NODES=${PAXSYNC_METRICS_NODES:-AU}
OWNER=${PAXSYNC_OWNER:-10001:10001}
SYNC_PORT=7400
METRICS_PORT=9464
MARKER="$CA_DIR/.coalition-ready"

log() { printf 'compose-setup: %s\n' "$*"; }
die() { printf 'compose-setup: error: %s\n' "$*" >&2; exit 1; }

lower() { printf '%s' "$1" | tr 'ABCDEFGHIJKLMNOPQRSTUVWXYZ' 'abcdefghijklmnopqrstuvwxyz'; }

name_of() {
    case $1 in
        SG) echo "Singapore" ;;
        AU) echo "Australia" ;;
        JP) echo "Japan" ;;
        KR) echo "South Korea" ;;
        IL) echo "Israel" ;;
        *) echo "$1" ;;
    esac
}

# The host other nodes dial to reach member $1: $PAXSYNC_HOST_<ID>, else the
# compose service name (the lowercase id).
host_of() {
    eval "h=\${PAXSYNC_HOST_$1:-}"
    if [ -n "$h" ]; then echo "$h"; else lower "$1"; fi
}

is_member() { case " $2 " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

for id in $NODES; do
    case $id in
        '' | *[!A-Z0-9]*) die "member id \"$id\" must be uppercase letters or digits" ;;
    esac
done
command -v paxsync >/dev/null 2>&1 || die "paxsync is not on PATH"

node_complete() {
    [ -f "$NODES_DIR/$1/paxsync.conf" ] && [ -f "$NODES_DIR/$1/tls/node.crt" ]
}

if [ -f "$MARKER" ]; then
    for id in $NODES; do
        node_complete "$id" || die "the coalition was set up before, but node $id's volume is missing or incomplete;
a new node would get a new signing key the other rosters do not list. Start over with:
  docker compose -f Deploy/compose.yaml down -v"
    done
    log "already set up ($MARKER); nothing to do"
    exit 0
fi

# 1. The coalition CA. Its key stays in this container's volume only.
if [ -f "$CA_DIR/ca.crt" ]; then
    log "CA exists in $CA_DIR"
else
    paxsync ca init --dir "$CA_DIR" --name "paxsync local coalition CA"
fi
chmod 0700 "$CA_DIR"

# 2. One node per member: keys, config, roster, replica, TLS certificate.
for id in $NODES; do
    dir="$NODES_DIR/$id"
    host=$(host_of "$id")
    if [ -f "$dir/paxsync.conf" ]; then
        log "node $id exists in $dir"
    else
        paxsync node init --node-id "$id" --data-dir "$dir" --name "$(name_of "$id")" --address "$host:$SYNC_PORT"
    fi
    if [ -f "$dir/tls/node.crt" ]; then
        log "node $id has a certificate"
    else
        # The certificate always names <id>.node.paxsync (what peers verify);
        # --host adds the service name, and the fixed address when there is one.
        set -- --host "$(lower "$id")"
        [ "$host" = "$(lower "$id")" ] || set -- "$@" --host "$host"
        paxsync ca issue --ca "$CA_DIR" --node-id "$id" --out "$dir/tls" "$@"
    fi
done

# 3. Every roster lists every member (adding a member already listed with the
#    same key is a no-op; one listed with another key is an error).
for a in $NODES; do
    for b in $NODES; do
        [ "$a" = "$b" ] && continue
        paxsync roster add --data-dir "$NODES_DIR/$a" --from "$NODES_DIR/$b/roster.json" >/dev/null
    done
    log "roster of $a lists: $(paxsync roster show --data-dir "$NODES_DIR/$a" | awk 'NR > 1 { printf "%s ", $1 }')"
done

# 4. Listen on every interface inside the container; metrics where asked.
set_setting() { # file key value
    sed -i "s|^$2 = \".*\"\$|$2 = \"$3\"|" "$1"
    grep -qx "$2 = \"$3\"" "$1" || die "could not set $2 in $1"
}
for id in $NODES; do
    conf="$NODES_DIR/$id/paxsync.conf"
    set_setting "$conf" listen "0.0.0.0:$SYNC_PORT"
    if is_member "$id" "$METRICS_NODES"; then
        set_setting "$conf" metrics_listen "0.0.0.0:$METRICS_PORT"
    fi
done

# 5. The node services run as uid 10001; data directories are owner-only.
for id in $NODES; do
    chown -R "$OWNER" "$NODES_DIR/$id"
    chmod 0700 "$NODES_DIR/$id"
done

touch "$MARKER"
log "coalition ready: $NODES"
