#!/usr/bin/env bash
# TSA benchmark: tokens/s over HTTP on loopback at concurrency 1, 16 and 64
# with p50/p99, next to the raw signing rate of the same SoftHSM2 key in the
# same run (go test -bench BenchmarkTSA), and to `openssl ts -reply` run once
# per token as a process with a software key (what people script today).
# Usage: scripts/bench/tsa.sh [TOKENS]   (default 2000 per sub-benchmark)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
ensure_packages softhsm2-util:softhsm2 openssl:openssl
ensure_go
export CGO_ENABLED=1 MUHR_SOFTHSM_MODULE
MUHR_SOFTHSM_MODULE=$(softhsm_module)
N=${1:-2000}

echo "== go test -bench BenchmarkTSA (N=$N per row; ledger: SQLite, group commit)"
go test -run '^$' -bench BenchmarkTSA -benchtime "${N}x" ./tsa/ | grep -E '^Benchmark'

echo "== openssl ts -reply, one process per token"
W=$(mktemp -d /tmp/muhr-bench-tsa.XXXXXX)
trap 'rm -rf "$W"' EXIT
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
echo bench >"$W/doc"
openssl ts -query -data "$W/doc" -sha256 -cert -out "$W/q.tsq" 2>/dev/null
M=$(( N < 500 ? N : 500 ))
start=$(date +%s.%N)
for _ in $(seq "$M"); do
	openssl ts -reply -config "$W/tsa.cnf" -queryfile "$W/q.tsq" -signer "$W/tsa.pem" -inkey "$W/tsa.key" \
		-out "$W/r.tsr" 2>/dev/null
done
end=$(date +%s.%N)
python3 -c "import sys; n=$M; d=$end-$start; print(f'openssl ts -reply: {n} tokens in {d:.2f} s = {n/d:.0f} tokens/s, {1000*d/n:.2f} ms each')"
