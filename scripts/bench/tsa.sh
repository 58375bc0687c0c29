#!/usr/bin/env bash
# TSA benchmark as a user sees it: the BUILT muhrd, set up as quickstart does
# (SoftHSM2 token, key ceremony) on SQLite and on PostgreSQL, driven over
# loopback by a separate load-generator process (scripts/bench/loadgen) at
# concurrency 1, 16 and 64, next to, in the same run:
#   - a bare net/http server answering a fixed token-sized body
#     (scripts/bench/bareserver): the ceiling of HTTP on this machine;
#   - `openssl ts -reply`, one process per token, software key;
#   - sigstore's timestamp-server v2.1.0 (in-memory key, no ledger), built
#     with `go install` when missing; skipped with a message when it cannot be.
# Prints one table: tokens/s, p50, p99 and the ratios to sigstore and to
# bare net/http at the same concurrency, with the machine's load.
#
# Usage: scripts/bench/tsa.sh [REQUESTS]   (default 3000 per row)
# Env:   BENCH_LOG_LEVEL  muhrd's log level (default info, as quickstart;
#                         warn leaves the per-request access line out)
#        BENCH_PG_DSN     use this PostgreSQL (a database is created in it)
#                         instead of a throwaway cluster started here
#        BENCH_MAX_SECONDS per-row cap (default 60): every row stops by itself
#        BENCH_ONLY        a regular expression: run only the targets it matches
#                          (bare-net/http, sigstore, muhrd-sqlite, muhrd-postgres,
#                          openssl-ts-reply)
#        BENCH_PERF        a directory: record `perf record -g` of each muhrd
#                          row there (NAME-cC.data), for `perf report -i`
#        BENCH_CONCURRENCY the concurrencies (default "1 16 64")
# Everything listens on 127.0.0.1 only and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
ensure_packages softhsm2-util:softhsm2 openssl:openssl curl:curl python3:python3 gcc:gcc
ensure_go
export CGO_ENABLED=1
N=${1:-3000}
LOG_LEVEL=${BENCH_LOG_LEVEL:-info}
MAXS=${BENCH_MAX_SECONDS:-60}
CONCURRENCY=${BENCH_CONCURRENCY:-1 16 64}
ONLY=${BENCH_ONLY:-.}
PERF_DIR=${BENCH_PERF:-}
wanted() { printf '%s\n' "$1" | grep -Eq -- "$ONLY"; }
MODULE=$(softhsm_module)

W=$(mktemp -d /tmp/muhr-bench-tsa.XXXXXX)
PIDS=()
PGDIR=
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -n "$PGDIR" ] && [ -d "$PGDIR/data" ]; then
		if [ "$(id -u)" = 0 ]; then
			su postgres -s /bin/sh -c "'$(pg_bindir)/pg_ctl' -D '$PGDIR/data' -m immediate -w stop" >/dev/null 2>&1 || true
		else
			"$(pg_bindir)/pg_ctl" -D "$PGDIR/data" -m immediate -w stop >/dev/null 2>&1 || true
		fi
	fi
	rm -rf "$W" "$PGDIR"
}
trap cleanup EXIT INT TERM

echo "bench: building muhr, muhrd, loadgen, bareserver" >&2
go build -o "$W/bin/" ./cmd/muhr ./cmd/muhrd ./scripts/bench/loadgen ./scripts/bench/bareserver
MUHR=$W/bin/muhr
LOADGEN=$W/bin/loadgen

wait_http() { # URL
	for _ in $(seq 150); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.2; done
	echo "bench: $1 did not come up" >&2
	return 1
}

# cpu_ticks PID: the server's user+system CPU so far, in clock ticks. CPU
# per token is what this shared machine's load does not change much.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# cluster_ticks PID: the same for a PostgreSQL cluster: its postmaster with
# its waited-for children, and the live children (the backends).
cluster_ticks() {
	local t
	t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat")
	for c in $(cat "/proc/$1/task/$1/children" 2>/dev/null); do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}
DB_PID=
TICK=$(getconf CLK_TCK)
RESULTS=$W/results.tsv
: >"$RESULTS"
# Targets are measured interleaved (every target at c=1, then at c=16, ...)
# so that the rows compared with each other ran close together in time on
# this shared machine. TARGETS holds "NAME|URL|loadgen flags".
TARGETS=()

# The request: SHA-256, a nonce, certReq (the unit certificate and chain in
# every token, as jarsigner and osslsigncode ask).
echo "bench document" >"$W/doc"
openssl ts -query -data "$W/doc" -sha256 -cert -out "$W/q.tsq" 2>/dev/null

# setup_center DIR DATABASE-YAML: a demo center as quickstart makes it.
setup_center() {
	local dir=$1 db=$2 port
	port=$(free_port)
	mkdir -p "$dir/softhsm/tokens" "$dir/secrets" "$dir/ca"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
		"$dir/softhsm/tokens" >"$dir/softhsm2.conf"
	(umask 077 && openssl rand -hex 16 >"$dir/secrets/so.pin" && openssl rand -hex 16 >"$dir/secrets/user.pin")
	SOFTHSM2_CONF="$dir/softhsm2.conf" "$MUHR" hsm init-token --module "$MODULE" --label muhr-bench \
		--so-pin-file "$dir/secrets/so.pin" --pin-file "$dir/secrets/user.pin" >/dev/null
	cat >"$dir/muhrd.yaml" <<YAML
listen: 127.0.0.1:$port
ops_listen: ""
public_url: http://127.0.0.1:$port
log: {level: $LOG_LEVEL}
database: $db
hsm: {module: $MODULE, token_label: muhr-bench, pin_file: secrets/user.pin, sessions: 4, softhsm2_conf: softhsm2.conf}
tsa:
  enabled: true
  signer_ca: qca-demo
  require_sync: false
YAML
	cp configs/ceremony-demo.yaml "$dir/ceremony.yaml"
	SOFTHSM2_CONF="$dir/softhsm2.conf" "$MUHR" db migrate --config "$dir/muhrd.yaml" >/dev/null
	SOFTHSM2_CONF="$dir/softhsm2.conf" "$MUHR" ceremony run --config "$dir/ceremony.yaml" --ca-dir "$dir/ca" >/dev/null
	echo "$port"
}

# start_muhrd NAME DIR PORT: start muhrd --roles tsa and add it to TARGETS.
start_muhrd() {
	local name=$1 dir=$2 port=$3
	(cd "$dir" && SOFTHSM2_CONF="$dir/softhsm2.conf" exec "$W/bin/muhrd" --config "$dir/muhrd.yaml" --roles tsa \
		2>"$dir/muhrd.log" >/dev/null) &
	local pid=$!
	PIDS+=("$pid")
	wait_http "http://127.0.0.1:$port/tsa/healthz"
	TARGETS+=("$name|http://127.0.0.1:$port/tsa|$pid|-tsa")
}

if wanted bare-net/http; then
	echo "bench: bare net/http" >&2
	"$W/bin/bareserver" -listen 127.0.0.1:0 -size 2700 -max-duration 30m >"$W/bare.addr" &
	PIDS+=($!)
	BARE_PID=$!
	for _ in $(seq 50); do [ -s "$W/bare.addr" ] && break; sleep 0.1; done
	TARGETS+=("bare-net/http|http://$(cat "$W/bare.addr")/|$BARE_PID|")
fi

TSS=$(command -v timestamp-server || true)
GOBIN_DIR=${BENCH_GOBIN:-$HOME/.cache/muhr-bench/bin}
[ -z "$TSS" ] && [ -x "$GOBIN_DIR/timestamp-server" ] && TSS=$GOBIN_DIR/timestamp-server
wanted sigstore && echo "bench: sigstore timestamp-server v2.1.0" >&2
wanted sigstore || TSS=-
if [ -z "$TSS" ]; then
	echo "bench: installing timestamp-server (go install, a few minutes the first time)" >&2
	if (cd "$W" && GOBIN=$GOBIN_DIR go install github.com/sigstore/timestamp-authority/v2/cmd/timestamp-server@v2.1.0) \
		>"$W/tss-install.log" 2>&1; then
		TSS=$GOBIN_DIR/timestamp-server
	else
		echo "bench: SKIPPING sigstore: timestamp-server could not be installed ($(tail -n1 "$W/tss-install.log"))" >&2
	fi
fi
if [ -n "$TSS" ] && [ "$TSS" != - ]; then
	TPORT=$(free_port)
	(cd "$W" && exec "$TSS" serve --host 127.0.0.1 --port "$TPORT" --timestamp-signer memory \
		--disable-ntp-monitoring >"$W/tss.log" 2>&1) &
	PIDS+=($!)
	TSS_PID=$!
	if wait_http "http://127.0.0.1:$TPORT/api/v1/timestamp/certchain"; then
		TARGETS+=("sigstore|http://127.0.0.1:$TPORT/api/v1/timestamp|$TSS_PID|-tsa")
	else
		echo "bench: SKIPPING sigstore: it did not start: $(tail -n3 "$W/tss.log")" >&2
	fi
fi

if wanted muhrd-sqlite; then
	echo "bench: muhrd on SQLite (synchronous=FULL)" >&2
	PORT=$(setup_center "$W/sqlite" "{driver: sqlite, path: muhr.db}")
	start_muhrd "muhrd-sqlite" "$W/sqlite" "$PORT"
fi

PG_FSYNC=-
if ! wanted muhrd-postgres; then
	:
elif [ -n "${BENCH_PG_DSN:-}" ]; then
	echo "bench: muhrd on PostgreSQL" >&2
	DB=muhr_bench_$$
	psql "$BENCH_PG_DSN" -qAtc "CREATE DATABASE $DB" >/dev/null
	PG_DSN=$(printf '%s' "$BENCH_PG_DSN" | sed -E "s/dbname=[^ ]+/dbname=$DB/")
	case $PG_DSN in *dbname=*) ;; *) PG_DSN="$PG_DSN dbname=$DB" ;; esac
else
	# A throwaway cluster with PostgreSQL's durable defaults (fsync on,
	# synchronous_commit on): scripts/test.sh's turns fsync off for speed,
	# which would let this bench release tokens that are not durable.
	echo "bench: muhrd on PostgreSQL" >&2
	PGDIR=$(mktemp -d /tmp/muhr-bench-pg.XXXXXX)
	chmod 0755 "$PGDIR"
	PGPORT=$(free_port)
	BIN=$(pg_bindir)
	START="'$BIN/initdb' -D '$PGDIR/data' -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >'$PGDIR/initdb.log' 2>&1 && \
'$BIN/pg_ctl' -D '$PGDIR/data' -l '$PGDIR/server.log' -w -o \"-k $PGDIR/sock -p $PGPORT -c listen_addresses=127.0.0.1 -c max_connections=200\" start >/dev/null"
	mkdir -p "$PGDIR/sock"
	if [ "$(id -u)" = 0 ]; then
		chown postgres "$PGDIR" "$PGDIR/sock"
		su postgres -s /bin/sh -c "$START"
	else
		sh -c "$START"
	fi
	PG_DSN="host=$PGDIR/sock port=$PGPORT user=postgres dbname=postgres sslmode=disable"
	DB_PID=$(head -n1 "$PGDIR/data/postmaster.pid")
fi
if wanted muhrd-postgres; then
	PG_FSYNC=$(psql "$PG_DSN" -qAtc "SHOW fsync" 2>/dev/null || echo "?")
	PORT=$(setup_center "$W/pg" "{driver: postgres, dsn: \"$PG_DSN\"}")
	start_muhrd "muhrd-postgres" "$W/pg" "$PORT"
fi

echo "bench: openssl ts -reply, one process per token" >&2
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/tsa.key" -out "$W/tsa.pem" \
	-days 2 -subj "/CN=bench TSA" -addext "extendedKeyUsage=critical,timeStamping" 2>/dev/null
cat >"$W/tsa.cnf" <<CNF
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
serial = $W/serial
signer_digest = sha256
default_policy = 0.4.0.2023.1.1
digests = sha256
accuracy = secs:1
ess_cert_id_alg = sha256
CNF
echo 01 >"$W/serial"
ON=$(( N < 500 ? N : 500 ))
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: measuring: ${#TARGETS[@]} HTTP targets and openssl, interleaved by concurrency" >&2
for c in $CONCURRENCY; do
	for t in "${TARGETS[@]}"; do
		IFS='|' read -r name url pid flags <<<"$t"
		perf_pid=
		if [ -n "$PERF_DIR" ] && [[ $name == muhrd-* ]]; then
			mkdir -p "$PERF_DIR"
			perf record -q -g -p "$pid" -o "$PERF_DIR/$name-c$c.data" 2>/dev/null &
			perf_pid=$!
			sleep 0.5
		fi
		before=$(cpu_ticks "$pid")
		db_before=
		if [[ $name == muhrd-postgres && -n $DB_PID ]]; then db_before=$(cluster_ticks "$DB_PID"); fi
		# shellcheck disable=SC2086 # flags is a word list
		line=$("$LOADGEN" -name "$name" -url "$url" -c "$c" -n "$N" -max-duration "${MAXS}s" -body "$W/q.tsq" $flags)
		after=$(cpu_ticks "$pid")
		db=
		if [ -n "$db_before" ]; then db=$(($(cluster_ticks "$DB_PID") - db_before)); fi
		if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
		printf '%s\t%s\t%s\n' "$line" "$((after - before))" "$db" | tee -a "$RESULTS" >&2
	done
	wanted openssl-ts-reply || continue
	"$LOADGEN" -name "openssl-ts-reply" -c "$c" -n "$ON" -warmup 5 -max-duration "${MAXS}s" -exec \
		"openssl ts -reply -config $W/tsa.cnf -queryfile $W/q.tsq -signer $W/tsa.pem -inkey $W/tsa.key -out /dev/null 2>/dev/null" \
		| tee -a "$RESULTS" >&2 # its last column is the children's CPU (ms), from loadgen
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "TSA over loopback, $N requests per row (openssl: $ON), $(nproc) cores; load average before: $LOAD_BEFORE, after: $LOAD_AFTER"
echo "muhrd log level: $LOG_LEVEL; muhrd's PostgreSQL fsync=$PG_FSYNC; SQLite synchronous=FULL; every muhrd token committed before release"
echo "cpu ms/tok: the server process's CPU per token (openssl: the processes'), a figure the machine's load changes little;"
echo "db cpu ms/tok: the throwaway PostgreSQL cluster's CPU per token (SQLite runs inside muhrd, so its CPU is in cpu ms/tok)"
python3 - "$RESULTS" "$TICK" <<'PY'
import sys
tick = float(sys.argv[2])
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
by = {(r[0], int(r[1])): r for r in rows}
def rate(name, c):
    r = by.get((name, c))
    return float(r[5]) if r else None
def dbcpu(r):
    if len(r) < 10 or r[9] == "":
        return None
    return float(r[9]) * 1000.0 / tick / max(int(r[2]), 1)
def cpu(r):
    if len(r) < 9 or r[8] == "":
        return None
    ms = float(r[8]) * 1000.0 / tick if r[0] != "openssl-ts-reply" else float(r[8])
    return ms / max(int(r[2]), 1)
print(f"{'target':<18}{'c':>4}{'tokens/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'failed':>8}{'x sigstore':>12}{'x bare':>9}{'cpu ms/tok':>12}{'cpu x sigstore':>16}{'db cpu ms/tok':>15}")
order = {}
for r in rows:
    order.setdefault(r[0], len(order))
rows.sort(key=lambda r: (order[r[0]], int(r[1])))
for r in rows:
    name, c, ok, failed, secs, rps, p50, p99 = r[0], int(r[1]), r[2], r[3], r[4], float(r[5]), r[6], r[7]
    s, b = rate("sigstore", c), rate("bare-net/http", c)
    xs = f"{rps/s:.2f}" if s else "-"
    xb = f"{rps/b:.3f}" if b else "-"
    mine, theirs = cpu(r), cpu(by.get(("sigstore", c), []))
    cm = f"{mine:.3f}" if mine is not None else "-"
    # how many times less CPU per token than sigstore
    cx = f"{theirs/mine:.2f}" if mine and theirs else "-"
    d = dbcpu(r)
    dm = f"{d:.3f}" if d is not None else "-"
    print(f"{name:<18}{c:>4}{rps:>10.0f}{float(p50):>9.2f}{float(p99):>9.2f}{failed:>8}{xs:>12}{xb:>9}{cm:>12}{cx:>16}{dm:>15}")
PY
