#!/usr/bin/env bash
# Validation and signing benchmark, all measured in the same run:
#  - validations/s of one CAdES-T (ECDSA P-256, chain of three, 64 KiB
#    document) with its OCSP and CRL answers cached, next to the raw ECDSA
#    verification rate and `openssl cms -verify` run as a process per
#    signature;
#  - CAdES-B signatures/s with the key on SoftHSM2 (the cades package, which
#    `muhr sign` runs once per document), next to the token's raw signing rate,
#    and `muhr sign --key pkcs11:...` as a process per document;
#  - the figure a client sees: the BUILT muhrd --roles validate,ocsp,tsa,
#    repository (the CRLs) on a
#    demo center (SoftHSM2, key ceremony, SQLite), POST /api/v1/validate of
#    one CAdES-T made by `muhr sign --tsa` with the center's TSA over a 4 KiB
#    document (its OCSP answers and CRLs come from the same muhrd and are
#    cached by the validator until their nextUpdate), driven over loopback by the
#    separate load generator (scripts/bench/loadgen) at c=1, 4 and 16, next
#    to a bare net/http server (scripts/bench/bareserver) and `openssl cms
#    -verify` run as a process per signature, in the same run.
# Usage: scripts/bench/verify.sh [BENCHTIME]   (default 3s per Go row)
# Env:   BENCH_SECONDS      seconds per HTTP/openssl row (default 10)
#        BENCH_CONCURRENCY  the concurrencies (default "1 4 16")
#        BENCH_PARTS        "go", "http" or "go http" (default): which half to run
#        BENCH_LOG_LEVEL    muhrd's log level (default warn)
#        BENCH_PERF         a directory: record `perf record -g` of muhrd during
#                           each muhrd-validate row there (muhrd-validate-cC.data)
# Everything listens on 127.0.0.1 only and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
ensure_packages softhsm2-util:softhsm2 openssl:openssl curl:curl python3:python3
ensure_go
export CGO_ENABLED=1 MUHR_SOFTHSM_MODULE
MUHR_SOFTHSM_MODULE=$(softhsm_module)
T=${1:-3s}
PARTS=${BENCH_PARTS:-go http}
if [[ " $PARTS " == *" go "* ]]; then
echo "== go test -bench BenchmarkValidateCAdEST ./verify (benchtime $T, $(nproc) cores)"
go test -run '^$' -bench BenchmarkValidateCAdEST -benchtime "$T" ./verify/ | grep -E '^Benchmark'
echo "== go test -bench BenchmarkSignSoftHSM ./cades"
go test -run '^$' -bench BenchmarkSignSoftHSM -benchtime "$T" ./cades/ | grep -E '^Benchmark'
echo "== go test -bench BenchmarkMuhrSignProcess ./cmd/muhr (muhr sign as a process per document, 50 runs)"
go test -run '^$' -bench BenchmarkMuhrSignProcess -benchtime 50x ./cmd/muhr/ | grep -E '^Benchmark'
fi
[[ " $PARTS " == *" http "* ]] || exit 0

SECS=${BENCH_SECONDS:-10}
CONCURRENCY=${BENCH_CONCURRENCY:-1 4 16}
LOG_LEVEL=${BENCH_LOG_LEVEL:-warn}
MODULE=$MUHR_SOFTHSM_MODULE
W=$(mktemp -d /tmp/muhr-bench-verify.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

echo "== POST /api/v1/validate over loopback (${SECS}s per row, c = $CONCURRENCY)"
echo "bench: building muhr, muhrd, loadgen, bareserver" >&2
go build -o "$W/bin/" ./cmd/muhr ./cmd/muhrd ./scripts/bench/loadgen ./scripts/bench/bareserver
MUHR=$W/bin/muhr
LOADGEN=$W/bin/loadgen
wait_http() { # URL
	for _ in $(seq 150); do curl -sS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.2; done
	echo "bench: $1 did not come up" >&2
	return 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

# The demo center, as quickstart makes it, with the TSA, OCSP, repository
# and validate roles on.
C=$W/center
PORT=$(free_port)
mkdir -p "$C/softhsm/tokens" "$C/secrets" "$C/ca"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
	"$C/softhsm/tokens" >"$C/softhsm2.conf"
(umask 077 && openssl rand -hex 16 >"$C/secrets/so.pin" && openssl rand -hex 16 >"$C/secrets/user.pin")
export SOFTHSM2_CONF=$C/softhsm2.conf
"$MUHR" hsm init-token --module "$MODULE" --label muhr-bench --so-pin-file "$C/secrets/so.pin" \
	--pin-file "$C/secrets/user.pin" >/dev/null
cat >"$C/muhrd.yaml" <<YAML
listen: 127.0.0.1:$PORT
ops_listen: ""
public_url: http://127.0.0.1:$PORT
log: {level: $LOG_LEVEL}
database: {driver: sqlite, path: muhr.db}
hsm: {module: $MODULE, token_label: muhr-bench, pin_file: secrets/user.pin, sessions: 4, softhsm2_conf: softhsm2.conf}
ocsp: {enabled: true, validity: 24h}
tsa: {enabled: true, signer_ca: qca-demo, require_sync: false}
validate: {enabled: true, max_concurrent: 16}
issuance:
  policy_oid: 1.3.6.1.4.1.59999.1.1
  pds: [{url: https://muhr.example.tj/pds/en.pdf, language: en}]
YAML
cp configs/ceremony-demo.yaml "$C/ceremony.yaml"
(cd "$C" && "$MUHR" db migrate --config muhrd.yaml >/dev/null && "$MUHR" ceremony run --config ceremony.yaml --ca-dir ca >/dev/null)
# The CAs' CRLs, which the repository role serves: the issuing CA's status
# (the root's CRL) is part of every validation.
(cd "$C" && "$MUHR" crl generate --config muhrd.yaml >/dev/null)
# The signer: a qualified-CA certificate for a software key (muhr sign
# takes a PEM key file for development; the report then claims no QSCD).
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/signer.key" -out "$W/signer.csr" \
	-subj "/CN=bench signer" 2>/dev/null
cat >"$W/person.json" <<'JSON'
{"kind":"person","surname":"Раҳимов","given_name":"Ҷамшед","patronymic":"Ғафурович","personal_number":"123456789012","country":"TJ"}
JSON
(cd "$C" && "$MUHR" dev issue --config muhrd.yaml --profile qes-person --csr "$W/signer.csr" --identity "$W/person.json" \
	--out "$W/signer.pem" >/dev/null)
cat "$W/signer.pem" "$C/ca/qca-demo.pem" >"$W/signer-chain.pem"

(cd "$C" && exec "$W/bin/muhrd" --config muhrd.yaml --roles validate,ocsp,tsa,repository 2>"$C/muhrd.log" >/dev/null) &
PIDS+=($!)
MUHRD_PID=$!
wait_http "http://127.0.0.1:$PORT/healthz"
VURL=http://127.0.0.1:$PORT/api/v1/validate

# The document (4 KiB, under the default http.max_body_bytes of 64 KiB with
# its signature) and its CAdES-T, timestamped by the center's TSA.
head -c 3072 /dev/urandom | base64 -w 76 | head -c 4096 >"$W/doc.txt"
"$MUHR" sign --in "$W/doc.txt" --out "$W/doc.p7s" --key "$W/signer.key" --cert "$W/signer-chain.pem" \
	--tsa "http://127.0.0.1:$PORT/tsa" >/dev/null
curl -fsS -F "signature=@$W/doc.p7s" -F "content=@$W/doc.txt" "$VURL" -o "$W/report.json"
grep -q '"indication": "TOTAL-PASSED"' "$W/report.json" && grep -q '"genTime"' "$W/report.json" &&
	grep -q "\"url\": \"http://127.0.0.1:$PORT/ocsp\"" "$W/report.json" || {
	echo "bench: muhrd's first validation is not a TOTAL-PASSED CAdES-T checked against its own responder:" >&2
	cat "$W/report.json" >&2
	tail -n 20 "$C/muhrd.log" >&2
	exit 1
}
# The second validation uses the cached answers (OCSP and CRL).
curl -fsS -F "signature=@$W/doc.p7s" -F "content=@$W/doc.txt" "$VURL" -o "$W/report2.json"
if [ "$(grep -c '"cached": true' "$W/report2.json")" -lt 2 ]; then
	echo "bench: the second validation did not use cached revocation answers:" >&2
	cat "$W/report2.json" >&2
	exit 1
fi
# openssl verifies the same signature (it checks no revocation).
openssl cms -verify -binary -content "$W/doc.txt" -inform DER -in "$W/doc.p7s" -CAfile "$C/ca/root-demo.pem" \
	-purpose any -out /dev/null 2>/dev/null || { echo "bench: openssl cms -verify refuses the signature" >&2; exit 1; }

"$W/bin/bareserver" -listen 127.0.0.1:0 -size "$(wc -c <"$W/report.json")" -max-duration 30m >"$W/bare.addr" &
PIDS+=($!)
BARE_PID=$!
for _ in $(seq 50); do [ -s "$W/bare.addr" ] && break; sleep 0.1; done

RESULTS=$W/results.tsv
: >"$RESULTS"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for c in $CONCURRENCY; do
	for t in "bare-net/http|http://$(cat "$W/bare.addr")/|$BARE_PID" "muhrd-validate|$VURL|$MUHRD_PID"; do
		IFS='|' read -r name url pid <<<"$t"
		perf_pid=
		if [ -n "${BENCH_PERF:-}" ] && [ "$name" = muhrd-validate ]; then
			mkdir -p "$BENCH_PERF"
			perf record -q -g -p "$pid" -o "$BENCH_PERF/$name-c$c.data" 2>/dev/null &
			perf_pid=$!
			sleep 0.5
		fi
		before=$(cpu_ticks "$pid")
		if [ "$name" = muhrd-validate ]; then
			line=$("$LOADGEN" -name "$name" -url "$url" -c "$c" -duration "${SECS}s" -warmup 20 \
				-multipart "signature=$W/doc.p7s,content=$W/doc.txt" -expect '"indication": "TOTAL-PASSED"')
		else
			line=$("$LOADGEN" -name "$name" -url "$url" -c "$c" -duration "${SECS}s" -warmup 20 \
				-multipart "signature=$W/doc.p7s,content=$W/doc.txt")
		fi
		cpu=$(( ($(cpu_ticks "$pid") - before) * 1000 / TICK ))
		if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
		printf '%s\t%s\n' "$line" "$cpu" | tee -a "$RESULTS" >&2
	done
	"$LOADGEN" -name "openssl-cms-verify" -c "$c" -duration "${SECS}s" -warmup 3 -exec \
		"openssl cms -verify -binary -content $W/doc.txt -inform DER -in $W/doc.p7s -CAfile $C/ca/root-demo.pem -purpose any -out /dev/null 2>/dev/null" |
		tee -a "$RESULTS" >&2 # its ninth column is the processes' CPU (ms), from loadgen
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "POST /api/v1/validate (CAdES-T, signer ECDSA P-256, demo CAs P-384, chain of three, 4 KiB document; OCSP and CRL of the same muhrd, cached),"
echo "${SECS}s per row, $(nproc) cores (shared); load average before: $LOAD_BEFORE, after: $LOAD_AFTER; muhrd log level $LOG_LEVEL"
python3 - "$RESULTS" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
by = {(r[0], int(r[1])): r for r in rows}
def rate(name, c):
    r = by.get((name, c))
    return float(r[5]) if r else None
print(f"{'target':<20}{'c':>4}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'failed':>8}{'x bare':>8}{'x openssl':>11}{'cpu ms/validation':>19}")
rows.sort(key=lambda r: (int(r[1]), r[0] != "bare-net/http", r[0] != "muhrd-validate"))
for r in rows:
    name, c, ok, failed, rps, p50, p99 = r[0], int(r[1]), int(r[2]), r[3], float(r[5]), float(r[6]), float(r[7])
    b, o = rate("bare-net/http", c), rate("openssl-cms-verify", c)
    xb = f"{rps/b:.3f}" if b and name == "muhrd-validate" else "-"
    xo = f"{rps/o:.1f}" if o and name == "muhrd-validate" else "-"
    cpu = f"{float(r[8]) / max(ok, 1):.2f}" if len(r) > 8 and r[8] != "" else "-"
    print(f"{name:<20}{c:>4}{rps:>9.0f}{p50:>9.2f}{p99:>9.2f}{failed:>8}{xb:>8}{xo:>11}{cpu:>19}")
print()
print("cpu ms/validation: the server process's CPU per answer (openssl: the processes' CPU per verification);")
print("openssl cms -verify checks the signature and the chain to the root, not revocation nor the timestamp;")
print("bare-net/http reads the same multipart body and answers a fixed body of the report's size.")
PY
