#!/usr/bin/env bash
# Real clients against muhrd's TSA: openssl ts, Java jarsigner and
# osslsigncode. Makes a demo center (SoftHSM2 token, SQLite, key ceremony)
# in a temp dir, starts muhrd with the TSA role, time-stamps with each
# client, verifies, and looks every token up with `muhr tsa show`.
# scripts/test.sh runs it last; it installs Java only when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages softhsm2-util:softhsm2 openssl:openssl python3:python3 gcc:gcc \
	jarsigner:default-jdk-headless osslsigncode:osslsigncode
ensure_go
export CGO_ENABLED=1

WORK=$(mktemp -d /tmp/muhr-interop.XXXXXX)
MUHRD_PID=
cleanup() {
	if [ -n "$MUHRD_PID" ]; then kill "$MUHRD_PID" 2>/dev/null || true; wait "$MUHRD_PID" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

MODULE=$(softhsm_module)
PORT=$(free_port)
URL=http://127.0.0.1:$PORT/tsa
go build -o "$WORK/bin/" ./cmd/muhr ./cmd/muhrd
MUHR="$WORK/bin/muhr"
export SOFTHSM2_CONF="$WORK/softhsm2.conf"
mkdir -p "$WORK/softhsm/tokens" "$WORK/secrets" "$WORK/ca"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
	"$WORK/softhsm/tokens" >"$SOFTHSM2_CONF"
(umask 077 && openssl rand -hex 16 >"$WORK/secrets/so.pin" && openssl rand -hex 16 >"$WORK/secrets/user.pin")
"$MUHR" hsm init-token --module "$MODULE" --label muhr-interop \
	--so-pin-file "$WORK/secrets/so.pin" --pin-file "$WORK/secrets/user.pin" >/dev/null
cat >"$WORK/muhrd.yaml" <<YAML
listen: 127.0.0.1:$PORT
ops_listen: ""
public_url: http://127.0.0.1:$PORT
database: {driver: sqlite, path: muhr.db}
hsm: {module: $MODULE, token_label: muhr-interop, pin_file: secrets/user.pin, softhsm2_conf: softhsm2.conf}
tsa:
  enabled: true
  signer_ca: qca-demo
  accuracy: 1s
  # This machine's kernel clock may report itself unsynchronised.
  require_sync: false
YAML
cp configs/ceremony-demo.yaml "$WORK/ceremony.yaml"
"$MUHR" db migrate --config "$WORK/muhrd.yaml" >/dev/null
"$MUHR" ceremony run --config "$WORK/ceremony.yaml" --ca-dir "$WORK/ca" >/dev/null
ROOT=$(ls "$WORK"/ca/root-demo*.pem "$WORK"/ca/root-demo*.crt 2>/dev/null | head -n1 || true)
"$WORK/bin/muhrd" --config "$WORK/muhrd.yaml" --roles tsa,repository 2>"$WORK/muhrd.log" &
MUHRD_PID=$!
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$PORT/tsa/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
echo "== muhrd start-up lines about the TSA"
grep -o '"msg":"tsa[^"]*"' "$WORK/muhrd.log" || true
curl -fsS "http://127.0.0.1:$PORT/tsa/healthz"

# Root and issuing CA from the repository, TSA unit certificate from a token.
curl -fsS "http://127.0.0.1:$PORT/ca/root-demo.crt" -o "$WORK/root.der"
curl -fsS "http://127.0.0.1:$PORT/ca/qca-demo.crt" -o "$WORK/qca.der"
openssl x509 -inform DER -in "$WORK/root.der" -out "$WORK/root.pem"
openssl x509 -inform DER -in "$WORK/qca.der" -out "$WORK/qca.pem"

echo "== openssl ts"
echo "interop document $(date)" >"$WORK/doc.txt"
openssl ts -query -data "$WORK/doc.txt" -sha256 -cert -out "$WORK/q.tsq" 2>/dev/null
curl -fsS -H 'Content-Type: application/timestamp-query' --data-binary @"$WORK/q.tsq" "$URL" -o "$WORK/r.tsr"
openssl ts -reply -in "$WORK/r.tsr" -token_out -out "$WORK/tok.der" 2>/dev/null
openssl pkcs7 -inform DER -in "$WORK/tok.der" -print_certs 2>/dev/null | sed -n '/BEGIN/,/END/p' | \
	awk '/BEGIN/{n++} n==1' >"$WORK/tsa.pem"
cat "$WORK/tsa.pem" "$WORK/qca.pem" >"$WORK/untrusted.pem"
openssl ts -verify -data "$WORK/doc.txt" -in "$WORK/r.tsr" -CAfile "$WORK/root.pem" -untrusted "$WORK/untrusted.pem"
SERIAL=$(openssl ts -reply -in "$WORK/r.tsr" -text 2>/dev/null | sed -n 's/^Serial number: //p')
echo "== muhr tsa show $SERIAL"
"$MUHR" tsa show "$SERIAL" --config "$WORK/muhrd.yaml" --out "$WORK/ledger-tok.der"
# The ledger keeps the token without certificates; show puts them back and
# gives the token the client received, byte for byte.
cmp "$WORK/ledger-tok.der" "$WORK/tok.der"
openssl ts -verify -data "$WORK/doc.txt" -in "$WORK/ledger-tok.der" -token_in -CAfile "$WORK/root.pem" \
	-untrusted "$WORK/untrusted.pem"

echo "== jarsigner"
JAVA_BIN=$(dirname "$(readlink -f "$(command -v jarsigner)")")
mkdir -p "$WORK/jar"
echo "hello" >"$WORK/jar/hello.txt"
(cd "$WORK/jar" && "$JAVA_BIN/jar" cf "$WORK/app.jar" hello.txt)
"$JAVA_BIN/keytool" -genkeypair -keystore "$WORK/ks.p12" -storetype PKCS12 -storepass changeit -alias dev \
	-keyalg EC -groupname secp256r1 -dname "CN=Interop Test Signer" -validity 2 >/dev/null 2>&1
"$JAVA_BIN/keytool" -importcert -noprompt -keystore "$WORK/ks.p12" -storepass changeit -alias muhr-root \
	-file "$WORK/root.pem" >/dev/null 2>&1
"$JAVA_BIN/jarsigner" -keystore "$WORK/ks.p12" -storepass changeit -tsa "$URL" "$WORK/app.jar" dev
"$JAVA_BIN/jarsigner" -verify -verbose -certs -keystore "$WORK/ks.p12" -storepass changeit "$WORK/app.jar" | \
	grep -iE 'timestamp|Timestamped|TSA|jar verified|Muhr' | sort -u

echo "== osslsigncode"
mkdir -p "$WORK/pe"
printf 'package main\nfunc main() { println("hi") }\n' >"$WORK/pe/main.go"
(cd "$WORK/pe" && GOOS=windows GOARCH=amd64 CGO_ENABLED=0 GOFLAGS=-mod=mod go build -ldflags=-s -o "$WORK/hello.exe" main.go 2>/dev/null) || \
	(cd "$WORK/pe" && printf 'module pe\ngo 1.26\n' >go.mod && GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go build -ldflags=-s -o "$WORK/hello.exe" .)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/cs.key" -out "$WORK/cs.pem" \
	-days 2 -subj "/CN=Interop Code Signer" -addext extendedKeyUsage=codeSigning 2>/dev/null
osslsigncode sign -certs "$WORK/cs.pem" -key "$WORK/cs.key" -ts "$URL" -in "$WORK/hello.exe" -out "$WORK/hello-signed.exe"
cat "$WORK/root.pem" "$WORK/qca.pem" >"$WORK/tsa-ca.pem"
osslsigncode verify -CAfile "$WORK/cs.pem" -TSA-CAfile "$WORK/root.pem" -in "$WORK/hello-signed.exe" 2>&1 | \
	grep -iE '^(Timestamp|Signature verification|Succeeded|Failed|Number of verified)' || true
osslsigncode verify -CAfile "$WORK/cs.pem" -TSA-CAfile "$WORK/root.pem" -in "$WORK/hello-signed.exe" >/dev/null 2>&1
echo "== interop: all clients OK"
