#!/usr/bin/env bash
# Runs every Muhr test against real parts: SoftHSM2, a throwaway PostgreSQL
# cluster and OpenSSL. Installs what is missing. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages softhsm2-util:softhsm2 openssl:openssl pkcs11-tool:opensc \
	python3:python3 gcc:gcc xmllint:libxml2-utils
pg_bindir >/dev/null 2>&1 || ensure_packages initdb-missing:postgresql
ensure_go

export CI=true
export MUHR_SOFTHSM_MODULE
MUHR_SOFTHSM_MODULE=$(softhsm_module)

PGDIR=$(mktemp -d /tmp/muhr-pg.XXXXXX)
chmod 0755 "$PGDIR"
rmdir "$PGDIR"
trap 'pg_stop "$PGDIR"' EXIT INT TERM
PGPORT=$(free_port)
pg_start "$PGDIR" "$PGPORT"
export MUHR_TEST_PG_DSN="host=$PGDIR/sock port=$PGPORT user=postgres dbname=postgres sslmode=disable"
echo "muhr: PostgreSQL at $PGDIR/sock port $PGPORT"

export CGO_ENABLED=1
echo "muhr: gofmt -l"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "muhr: not gofmt-formatted (run gofmt -w):" >&2
	echo "$unformatted" >&2
	exit 1
fi
echo "muhr: go vet ./..."
go vet ./...
echo "muhr: go test -race ./..."
go test -race -timeout 12m -count=1 ./... "$@"
echo "muhr: interop: openssl ts, jarsigner, osslsigncode against muhrd's TSA"
scripts/interop.sh
echo "muhr: all tests passed"
