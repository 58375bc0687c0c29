#!/usr/bin/env bash
# Validation and signing benchmark, all measured in the same run:
#  - validations/s of one CAdES-T (ECDSA P-256, chain of three, 64 KiB
#    document) with its OCSP and CRL answers cached, next to the raw ECDSA
#    verification rate and `openssl cms -verify` run as a process per
#    signature;
#  - CAdES-B signatures/s with the key on SoftHSM2 (the cades package, which
#    `muhr sign` runs once per document), next to the token's raw signing rate,
#    and `muhr sign --key pkcs11:...` as a process per document.
# Usage: scripts/bench/verify.sh [BENCHTIME]   (default 3s per row)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
ensure_packages softhsm2-util:softhsm2 openssl:openssl
ensure_go
export CGO_ENABLED=1 MUHR_SOFTHSM_MODULE
MUHR_SOFTHSM_MODULE=$(softhsm_module)
T=${1:-3s}
echo "== go test -bench BenchmarkValidateCAdEST ./verify (benchtime $T, $(nproc) cores)"
go test -run '^$' -bench BenchmarkValidateCAdEST -benchtime "$T" ./verify/ | grep -E '^Benchmark'
echo "== go test -bench BenchmarkSignSoftHSM ./cades"
go test -run '^$' -bench BenchmarkSignSoftHSM -benchtime "$T" ./cades/ | grep -E '^Benchmark'
echo "== go test -bench BenchmarkMuhrSignProcess ./cmd/muhr (muhr sign as a process per document, 50 runs)"
go test -run '^$' -bench BenchmarkMuhrSignProcess -benchtime 50x ./cmd/muhr/ | grep -E '^Benchmark'
