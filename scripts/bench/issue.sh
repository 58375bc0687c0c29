#!/usr/bin/env bash
# Issuance benchmark: certificates per second through the whole pipeline
# (ca.Issuer on SoftHSM2) on SQLite and on a throwaway PostgreSQL, next to
# the raw HSM signing rate of the issuing CA's key and zlint's rate on the
# same certificate, measured in the same run; then the HSM ceilings of
# hsm/pkcs11 against Go's in-memory crypto.
# Usage: scripts/bench/issue.sh [CERTS]   (default 2000 per sub-benchmark)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
ensure_packages softhsm2-util:softhsm2 openssl:openssl python3:python3
pg_bindir >/dev/null 2>&1 || ensure_packages initdb-missing:postgresql
ensure_go
export CGO_ENABLED=1 MUHR_SOFTHSM_MODULE
MUHR_SOFTHSM_MODULE=$(softhsm_module)
N=${1:-2000}

PGDIR=$(mktemp -d /tmp/muhr-pg.XXXXXX)
rmdir "$PGDIR"
trap 'pg_stop "$PGDIR"' EXIT INT TERM
PGPORT=$(free_port)
pg_start "$PGDIR" "$PGPORT"
export MUHR_TEST_PG_DSN="host=$PGDIR/sock port=$PGPORT user=postgres dbname=postgres sslmode=disable"

echo "== go test -bench BenchmarkIssue (N=$N per row, 2 cores)"
go test -run '^$' -bench BenchmarkIssue -benchtime "${N}x" ./ca/ | grep -E '^Benchmark'
echo "== go test -bench . ./hsm/pkcs11 (signing ceilings)"
go test -run '^$' -bench . -benchtime 2s ./hsm/pkcs11/ | grep -E '^Benchmark'
