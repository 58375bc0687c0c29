#!/usr/bin/env bash
# OCSP benchmark as a user sees it: the BUILT muhrd --roles ocsp on a demo
# center (SoftHSM2 token, key ceremony, SQLite), driven over loopback by the
# separate load generator (scripts/bench/loadgen) at concurrency 16 and 64,
# for a fixed time per row, next to, in the same run:
#   - a bare net/http server answering a fixed 500-byte body
#     (scripts/bench/bareserver): the ceiling of HTTP on this machine;
#   - `openssl ocsp -index … -port …` (-multi 2, software key) on the same
#     certificate; it binds every interface, so it and its load generator
#     run in a network namespace of their own that has only loopback;
#   - cfssl's `ocspserve` v1.6.5 from a responses file holding Muhr's own
#     pre-signed answer (built with `go install` into a temporary GOBIN;
#     skipped with a message when it does not build);
#   - the token's raw signing rate (scripts/bench/hsmrate, the OCSP
#     signer's key, muhrd's session pool size), which a nonce request
#     (signed live) is compared to.
# Prints one table: requests/s, p50, p99 and the ratios.
#
# Every nonce request carries a nonce never sent before, which loadgen
# checks is echoed (-fresh-nonce). The CPU columns split each answer's CPU
# between the server process and loadgen (both on this machine's cores).
#
# Usage: scripts/bench/ocsp.sh
# Env:   BENCH_SECONDS      seconds per row (default 15)
#        BENCH_CONCURRENCY  the concurrencies (default "16 64")
#        BENCH_CLIENT       lean (default): loadgen -lean, a minimal keep-alive
#                           HTTP/1.1 client (as wrk is); nethttp: Go's
#                           net/http client, heavier on the shared cores.
#                           The openssl ocsp row always uses net/http (a
#                           -lean run at c=64 hung once there, not yet
#                           understood)
#        BENCH_MUHRD        a muhrd binary to measure instead of the one built
#                           here (an A/B of two versions on the same setup)
#        BENCH_AB           "NAME:PROGRAM ..." more muhrd to measure in the same
#                           run, each on its own port, on the same database and
#                           token: rows ab-NAME-cached-GET, -cached-POST and
#                           -nonce-POST take turns with the others (PROGRAM may
#                           be a script that sets the environment and execs a
#                           muhrd). A/Bs in one run share the machine's speed of
#                           the moment, which separate runs do not
#        BENCH_QUICK        1: a quick look, 3 s per row at c=16 only
#                           (BENCH_SECONDS/BENCH_CONCURRENCY still win)
#        BENCH_LOG_LEVEL    muhrd's log level (default warn: no access line
#                           per request; info writes one, as quickstart does)
#        BENCH_ONLY         a regular expression of row names to run
#        BENCH_PERF         a directory: record `perf record -g` of muhrd
#                           during each muhr slice (NAME-cC-rR.data)
#        BENCH_ROUNDS       slices per row (default 3, 1 with BENCH_QUICK): the rows take turns,
#                           slice by slice, so drift of a shared machine's
#                           speed falls on every row alike
#        BENCH_SESSIONS     the token session pool of muhrd and hsmrate
#                           (default: the core count; SoftHSM2 signs on
#                           these cores, and sessions beyond them only
#                           queue threads on its locks)
# Everything listens on 127.0.0.1 only and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
ensure_packages softhsm2-util:softhsm2 openssl:openssl curl:curl python3:python3 gcc:gcc pgrep:procps
ensure_go
export CGO_ENABLED=1
if [ "${BENCH_QUICK:-}" = 1 ]; then
	SECS=${BENCH_SECONDS:-3}
	CONCURRENCY=${BENCH_CONCURRENCY:-16}
else
	SECS=${BENCH_SECONDS:-15}
	CONCURRENCY=${BENCH_CONCURRENCY:-16 64}
fi
LOG_LEVEL=${BENCH_LOG_LEVEL:-warn}
ONLY=${BENCH_ONLY:-.}
case ${BENCH_CLIENT:-lean} in
lean) LEAN=-lean ;;
nethttp) LEAN= ;;
*) echo "bench: BENCH_CLIENT must be lean or nethttp" >&2; exit 2 ;;
esac
PERF_DIR=${BENCH_PERF:-}
ROUNDS=${BENCH_ROUNDS:-3}
[ "${BENCH_QUICK:-}" = 1 ] && ROUNDS=${BENCH_ROUNDS:-1}
SESSIONS=${BENCH_SESSIONS:-$(nproc)}
wanted() { printf '%s\n' "$1" | grep -Eq -- "$ONLY"; }
MODULE=$(softhsm_module)

W=$(mktemp -d /tmp/muhr-bench-ocsp.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

echo "bench: building muhr, muhrd, loadgen, bareserver, hsmrate" >&2
go build -o "$W/bin/" ./cmd/muhr ./cmd/muhrd ./scripts/bench/loadgen ./scripts/bench/bareserver ./scripts/bench/hsmrate
MUHR=$W/bin/muhr
LOADGEN=$W/bin/loadgen

wait_http() { # URL
	for _ in $(seq 150); do curl -sS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.2; done
	echo "bench: $1 did not come up" >&2
	return 1
}

# The demo center, as quickstart makes it, with the OCSP role on.
C=$W/center
PORT=$(free_port)
OPS=$(free_port)
mkdir -p "$C/softhsm/tokens" "$C/secrets" "$C/ca"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
	"$C/softhsm/tokens" >"$C/softhsm2.conf"
(umask 077 && openssl rand -hex 16 >"$C/secrets/so.pin" && openssl rand -hex 16 >"$C/secrets/user.pin")
export SOFTHSM2_CONF=$C/softhsm2.conf
"$MUHR" hsm init-token --module "$MODULE" --label muhr-bench --so-pin-file "$C/secrets/so.pin" \
	--pin-file "$C/secrets/user.pin" >/dev/null
cat >"$C/muhrd.yaml" <<YAML
listen: 127.0.0.1:$PORT
ops_listen: 127.0.0.1:$OPS
public_url: http://127.0.0.1:$PORT
log: {level: $LOG_LEVEL}
database: {driver: sqlite, path: muhr.db}
hsm: {module: $MODULE, token_label: muhr-bench, pin_file: secrets/user.pin, sessions: $SESSIONS, softhsm2_conf: softhsm2.conf}
ocsp: {enabled: true, validity: 24h}
issuance:
  policy_oid: 1.3.6.1.4.1.59999.1.1
  pds: [{url: https://muhr.example.tj/pds/en.pdf, language: en}]
YAML
cp configs/ceremony-demo.yaml "$C/ceremony.yaml"
(cd "$C" && "$MUHR" db migrate --config muhrd.yaml >/dev/null && "$MUHR" ceremony run --config ceremony.yaml --ca-dir ca >/dev/null)
# One subscriber certificate, issued by the qualified CA.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/leaf.key" -out "$W/leaf.csr" \
	-subj "/CN=bench" 2>/dev/null
cat >"$W/person.json" <<'JSON'
{"kind":"person","surname":"Раҳимов","given_name":"Ҷамшед","patronymic":"Ғафурович","personal_number":"123456789012","country":"TJ"}
JSON
(cd "$C" && "$MUHR" dev issue --config muhrd.yaml --profile qes-person --csr "$W/leaf.csr" --identity "$W/person.json" \
	--out "$W/leaf.pem" >/dev/null)
ISSUER=$C/ca/qca-demo.pem
openssl ocsp -issuer "$ISSUER" -cert "$W/leaf.pem" -no_nonce -reqout "$W/req.der" >/dev/null 2>&1
openssl ocsp -issuer "$ISSUER" -cert "$W/leaf.pem" -nonce -reqout "$W/req-nonce.der" >/dev/null 2>&1

MUHRD_BIN=${BENCH_MUHRD:-$W/bin/muhrd}
(cd "$C" && exec "$MUHRD_BIN" --config muhrd.yaml --roles ocsp 2>"$C/muhrd.log" >/dev/null) &
PIDS+=($!)
MUHRD_PID=$!
wait_http "http://127.0.0.1:$PORT/healthz"
MURL=http://127.0.0.1:$PORT/ocsp
curl -fsS -H 'Content-Type: application/ocsp-request' --data-binary @"$W/req.der" "$MURL" -o "$W/resp.der"
openssl ocsp -respin "$W/resp.der" -issuer "$ISSUER" -cert "$W/leaf.pem" -CAfile "$C/ca/root-demo.pem" 2>&1 |
	grep -q ': good' || { echo "bench: muhrd's answer does not verify" >&2; exit 1; }

# cpu_ticks PID: the server's user+system CPU so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)
declare -A SERVER_PID
SERVER_PID[muhr-cached-GET]=$MUHRD_PID
SERVER_PID[muhr-cached-POST]=$MUHRD_PID
SERVER_PID[muhr-nonce-POST]=$MUHRD_PID
TARGETS=() # "NAME|URL|loadgen flags"
TARGETS+=("muhr-cached-GET|$MURL|-ocsp -get -body $W/req.der")
TARGETS+=("muhr-cached-POST|$MURL|-ocsp -body $W/req.der -content-type application/ocsp-request")

echo "bench: bare net/http (500 bytes)" >&2
"$W/bin/bareserver" -listen 127.0.0.1:0 -size 500 -max-duration 30m >"$W/bare.addr" &
PIDS+=($!)
SERVER_PID[bare-net/http]=$!
for _ in $(seq 50); do [ -s "$W/bare.addr" ] && break; sleep 0.1; done
TARGETS=("bare-net/http|http://$(cat "$W/bare.addr")/x|-get -body $W/req.der" "${TARGETS[@]}")

# cfssl ocspserve from a responses file: Muhr's own answer (base64 lines).
CFSSL=$(command -v cfssl || true)
GOBIN_DIR=${BENCH_GOBIN:-$W/gobin}
if [ -z "$CFSSL" ] && [ -x "$GOBIN_DIR/cfssl" ]; then CFSSL=$GOBIN_DIR/cfssl; fi
if [ -z "$CFSSL" ] && wanted cfssl; then
	echo "bench: installing cfssl v1.6.5 (go install, a few minutes the first time)" >&2
	if (cd "$W" && GOBIN=$GOBIN_DIR go install github.com/cloudflare/cfssl/cmd/cfssl@v1.6.5) >"$W/cfssl-install.log" 2>&1; then
		CFSSL=$GOBIN_DIR/cfssl
	else
		echo "bench: SKIPPING cfssl: it did not build ($(tail -n1 "$W/cfssl-install.log"))" >&2
	fi
fi
if [ -n "$CFSSL" ] && wanted cfssl; then
	base64 -w0 "$W/resp.der" >"$W/responses.txt"
	echo >>"$W/responses.txt"
	CPORT=$(free_port)
	"$CFSSL" ocspserve -address 127.0.0.1 -port "$CPORT" -responses "$W/responses.txt" >"$W/cfssl.log" 2>&1 &
	PIDS+=($!)
	SERVER_PID[cfssl-GET]=$!
	SERVER_PID[cfssl-POST]=$!
	wait_http "http://127.0.0.1:$CPORT/"
	TARGETS+=("cfssl-GET|http://127.0.0.1:$CPORT|-ocsp -get -body $W/req.der")
	TARGETS+=("cfssl-POST|http://127.0.0.1:$CPORT/|-ocsp -body $W/req.der -content-type application/ocsp-request")
fi

# The nonce row last among the HTTP rows, between its two references (the
# rows of a slice run one after another, so neighbours share the machine's
# speed of the moment): a bare net/http server that signs each answer once
# on the same token and does nothing else (hsmrate -listen: the ceiling of
# any server that signs live here), and after it the raw signing rate.
"$W/bin/hsmrate" -listen 127.0.0.1:0 -module "$MODULE" -token muhr-bench -pin-file "$C/secrets/user.pin" \
	-key qca-demo-ocsp -sessions "$SESSIONS" -duration 30m >"$W/signsrv.addr" &
PIDS+=($!)
SERVER_PID[bare-http+sign]=$!
for _ in $(seq 100); do [ -s "$W/signsrv.addr" ] && break; sleep 0.1; done
[ -s "$W/signsrv.addr" ] || { echo "bench: hsmrate -listen did not start" >&2; exit 1; }
NONCE_FLAGS="-ocsp -fresh-nonce -body $W/req-nonce.der -content-type application/ocsp-request"
TARGETS+=("bare-http+sign|http://$(cat "$W/signsrv.addr")/|$NONCE_FLAGS")
TARGETS+=("muhr-nonce-POST|$MURL|$NONCE_FLAGS")
for ab in ${BENCH_AB:-}; do
	name=${ab%%:*} prog=${ab#*:}
	[ -n "$name" ] && [ "$prog" != "$ab" ] && [ -x "$prog" ] ||
		{ echo "bench: BENCH_AB entry $ab is not NAME:PROGRAM with PROGRAM executable" >&2; exit 2; }
	port=$(free_port) ops=$(free_port)
	sed -e "s/^listen: .*/listen: 127.0.0.1:$port/" -e "s/^ops_listen: .*/ops_listen: 127.0.0.1:$ops/" \
		"$C/muhrd.yaml" >"$C/muhrd-ab-$name.yaml"
	(cd "$C" && exec "$prog" --config "muhrd-ab-$name.yaml" --roles ocsp 2>"$C/muhrd-ab-$name.log" >/dev/null) &
	PIDS+=($!)
	for row in cached-GET cached-POST nonce-POST; do SERVER_PID[ab-$name-$row]=$!; done
	wait_http "http://127.0.0.1:$port/healthz"
	url=http://127.0.0.1:$port/ocsp
	TARGETS+=("ab-$name-cached-GET|$url|-ocsp -get -body $W/req.der")
	TARGETS+=("ab-$name-cached-POST|$url|-ocsp -body $W/req.der -content-type application/ocsp-request")
	TARGETS+=("ab-$name-nonce-POST|$url|$NONCE_FLAGS")
done

# openssl ocsp: an index holding the certificate, a software signer.
SERIAL=$(openssl x509 -in "$W/leaf.pem" -noout -serial | cut -d= -f2)
END=$(date -u -d "$(openssl x509 -in "$W/leaf.pem" -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
SUBJ=$(openssl x509 -in "$W/leaf.pem" -noout -subject -nameopt compat | sed 's/^subject=//')
printf 'V\t%s\t\t%s\tunknown\t%s\n' "$END" "$SERIAL" "$SUBJ" >"$W/index.txt"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/osign.key" -out "$W/osign.pem" \
	-days 2 -subj "/CN=bench OCSP signer" -addext "extendedKeyUsage=OCSPSigning" 2>/dev/null

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
RESULTS=$W/results.tsv
: >"$RESULTS"
echo "bench: measuring ${#TARGETS[@]} HTTP targets, openssl ocsp and the raw HSM rate, ${SECS}s per row" >&2
# Each row runs in ROUNDS slices, the rows taking turns: the machine's
# speed drifts over minutes (it shares a host), and a ratio of two rows run
# minutes apart measured the drift as much as the servers.
SLICE=$(python3 -c "print(max(1, round($SECS / $ROUNDS)))")
for c in $CONCURRENCY; do
	for round in $(seq "$ROUNDS"); do
		for t in "${TARGETS[@]}"; do
			IFS='|' read -r name url flags <<<"$t"
			wanted "$name" || continue
			perf_pid=
			if [ -n "$PERF_DIR" ] && [[ $name == muhr-* ]]; then
				mkdir -p "$PERF_DIR"
				perf record -q -g -p "$MUHRD_PID" -o "$PERF_DIR/$name-c$c-r$round.data" 2>/dev/null &
				perf_pid=$!
				sleep 0.5
			fi
			spid=${SERVER_PID[$name]:-}
			before=
			if [ -n "$spid" ]; then before=$(cpu_ticks "$spid"); fi
			# shellcheck disable=SC2086 # flags is a word list
			line=$("$LOADGEN" -name "$name" -url "$url" -c "$c" -duration "${SLICE}s" -warmup 200 -cpu $LEAN $flags)
			cpu=
			if [ -n "$before" ]; then cpu=$((($(cpu_ticks "$spid") - before) * 1000 / TICK)); fi
			printf '%s\t%s\n' "$line" "$cpu" | tee -a "$RESULTS" >&2
			if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
		done
		if wanted hsm-raw-sign; then
			"$W/bin/hsmrate" -module "$MODULE" -token muhr-bench -pin-file "$C/secrets/user.pin" -key qca-demo-ocsp \
				-sessions "$SESSIONS" -c "$c" -duration "${SLICE}s" | tee -a "$RESULTS" >&2
		fi
	done
	if wanted openssl-ocsp; then
		OPORT=$(free_port)
		cat >"$W/openssl-row.sh" <<SH
ip link set lo up
openssl ocsp -index '$W/index.txt' -port $OPORT -rsigner '$W/osign.pem' -rkey '$W/osign.key' \
	-CA '$ISSUER' -nmin 60 -multi 2 >'$W/openssl-ocsp.log' 2>&1 &
op=\$!
# A valid request as the probe: with -multi a child that fails a request
# exits and openssl pauses before it forks another.
for i in \$(seq 50); do curl -s -o /dev/null -H 'Content-Type: application/ocsp-request' --data-binary @'$W/req.der' \
	http://127.0.0.1:$OPORT/ && break; sleep 0.1; done
'$LOADGEN' -name openssl-ocsp -url http://127.0.0.1:$OPORT/ -c $c -duration ${SECS}s -warmup 50 -cpu -ocsp \
	-body '$W/req.der' -content-type application/ocsp-request || { echo "bench: openssl ocsp:" >&2; cat '$W/openssl-ocsp.log' >&2; }
# openssl's -multi children can be left spinning on a connection the load
# generator closed, and the parent waits for them: kill them all, hard.
kill -KILL \$(pgrep -P \$op) \$op 2>/dev/null; wait \$op 2>/dev/null; true
SH
		# Its own network namespace: openssl's -port binds every interface.
		unshare -n sh "$W/openssl-row.sh" |
			tee -a "$RESULTS" >&2
	fi
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "OCSP over loopback, ${SECS}s per row in $ROUNDS slices taking turns, $(nproc) cores; load average before: $LOAD_BEFORE, after: $LOAD_AFTER"
echo "client: loadgen ${LEAN:-(net/http)}; muhrd log level: $LOG_LEVEL; signer ecdsa-p256 on SoftHSM2 ($SESSIONS sessions); openssl ocsp -multi 2 with a software key"
python3 - "$RESULTS" <<'PY'
import sys
slices = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
# A row's slices summed: answers, failures, seconds and CPU add up; p50 is
# the median of the slices' and p99 the worst slice's.
agg = {}
for r in slices:
    agg.setdefault((r[0], int(r[1])), []).append(r)
def med(v):
    v = sorted(v)
    return v[len(v) // 2]
rows = []
for (name, c), rs in agg.items():
    n = sum(int(r[2]) for r in rs)
    failed = sum(int(r[3]) for r in rs)
    secs = sum(float(r[4]) for r in rs)
    col = lambda i: (str(sum(float(r[i]) for r in rs)) if all(len(r) > i and r[i] != "" for r in rs) else "")
    rows.append([name, str(c), str(n), str(failed), str(secs), str(n / secs if secs else 0),
                 str(med([float(r[6]) for r in rs])), str(max(float(r[7]) for r in rs)), col(8), col(9), len(rs)])
by = {(r[0], int(r[1])): r for r in rows}
def rate(name, c):
    r = by.get((name, c))
    return float(r[5]) if r else None
print(f"{'target':<18}{'c':>4}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'failed':>8}{'x bare':>8}{'x cfssl':>9}{'x hsm raw':>11}"
      f"{'x sign srv':>11}{'srv us/req':>12}{'lg us/req':>11}{'sum us/req':>12}")
order = {}
for r in slices:
    order.setdefault(r[0], len(order))
rows.sort(key=lambda r: (int(r[1]), order[r[0]]))
def per(ms, n):
    return float(ms) * 1000.0 / max(n, 1) if ms not in (None, "") else None
for r in rows:
    name, c, n, failed, rps, p50, p99 = r[0], int(r[1]), int(r[2]), r[3], float(r[5]), float(r[6]), float(r[7])
    b = rate("bare-net/http", c)
    cf = rate("cfssl-POST" if name.endswith("POST") else "cfssl-GET", c)
    h = rate("hsm-raw-sign", c)
    xb = f"{rps/b:.2f}" if b and name != "bare-net/http" else "-"
    muhr = name.startswith(("muhr-", "ab-"))
    nonce = muhr and name.endswith("nonce-POST")
    xc = f"{rps/cf:.2f}" if cf and muhr else "-"
    xh = f"{rps/h:.2f}" if h and (nonce or name == "bare-http+sign") else "-"
    sc = rate("bare-http+sign", c)
    xs = f"{rps/sc:.2f}" if sc and nonce else "-"
    # hsmrate's ninth column is its own CPU (the signer and the "client" in
    # one); loadgen's is loadgen's, and the tenth the server's.
    if name == "hsm-raw-sign":
        srv, lg = per(r[8] if len(r) > 8 else None, n), None
    else:
        lg, srv = per(r[8] if len(r) > 8 else None, n), per(r[9] if len(r) > 9 else None, n)
    f = lambda v: "-" if v is None else f"{v:.0f}"
    tot = None if srv is None else srv + (lg or 0)
    print(f"{name:<18}{c:>4}{rps:>10.0f}{p50:>9.2f}{p99:>9.2f}{failed:>8}{xb:>8}{xc:>9}{xh:>11}{xs:>11}{f(srv):>12}{f(lg):>11}{f(tot):>12}")
print()
print("srv us/req: the server process's CPU per answer (hsm-raw-sign: hsmrate's own CPU per signature);")
print("lg us/req: loadgen's own CPU per answer; sum: both (what one answer costs this machine's cores).")
print("p50: the median of a row's slices; p99: its worst slice's.")
print("openssl ocsp runs in a network namespace of its own, its CPU is not measured; it runs once, not in slices.")
print("bare-http+sign: bare net/http signing each answer once on the token (hsmrate -listen); x sign srv: nonce over it.")
print("Goals: muhr-cached-* x bare >= 0.80 and x cfssl >= 3; muhr-nonce-POST x hsm raw >= 0.70")
PY
