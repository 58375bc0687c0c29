#!/usr/bin/env bash
# Runs the Muhr center on its embedded default: SQLite and a SoftHSM2 token in
# $MUHR_HOME. The first run makes the demo CA hierarchy with a key ceremony;
# later runs reuse it. Stays in the foreground; Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

MUHR_HOME=${MUHR_HOME:-./.muhr}
MUHR_LISTEN=${MUHR_LISTEN:-127.0.0.1:8080}
mkdir -p "$MUHR_HOME"
MUHR_HOME=$(cd "$MUHR_HOME" && pwd)

ensure_packages softhsm2-util:softhsm2 openssl:openssl pkcs11-tool:opensc gcc:gcc curl:curl
ensure_go
MODULE=$(softhsm_module)

echo "muhr: building muhr and muhrd" >&2
mkdir -p "$MUHR_HOME/bin"
CGO_ENABLED=1 go build -o "$MUHR_HOME/bin/" ./cmd/muhr ./cmd/muhrd
MUHR="$MUHR_HOME/bin/muhr"
export SOFTHSM2_CONF="$MUHR_HOME/softhsm2.conf"

if [ ! -e "$MUHR_HOME/.initialized" ]; then
	if [ -e "$MUHR_HOME/muhrd.yaml" ]; then
		echo "muhr: $MUHR_HOME holds a first run that did not finish; remove it and run again" >&2
		exit 1
	fi
	echo "muhr: first run: making the demo center in $MUHR_HOME" >&2
	(umask 077 && mkdir -p "$MUHR_HOME/secrets" "$MUHR_HOME/softhsm/tokens" "$MUHR_HOME/ca")
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
		"$MUHR_HOME/softhsm/tokens" >"$SOFTHSM2_CONF"
	(umask 077 && openssl rand -hex 16 >"$MUHR_HOME/secrets/so.pin" && openssl rand -hex 16 >"$MUHR_HOME/secrets/user.pin")
	chmod 0600 "$MUHR_HOME/secrets/so.pin" "$MUHR_HOME/secrets/user.pin"
	"$MUHR" hsm init-token --module "$MODULE" --label muhr-demo \
		--so-pin-file "$MUHR_HOME/secrets/so.pin" --pin-file "$MUHR_HOME/secrets/user.pin"
	cat >"$MUHR_HOME/muhrd.yaml" <<YAML
# Written by scripts/quickstart.sh for the demo center.
listen: $MUHR_LISTEN
public_url: http://$MUHR_LISTEN
log:
  level: info
database:
  driver: sqlite
  path: muhr.db
hsm:
  module: $MODULE
  token_label: muhr-demo
  pin_file: secrets/user.pin
  sessions: 4
  softhsm2_conf: softhsm2.conf
YAML
	cp configs/ceremony-demo.yaml "$MUHR_HOME/ceremony.yaml"
	"$MUHR" db migrate --config "$MUHR_HOME/muhrd.yaml"
	"$MUHR" ceremony run --config "$MUHR_HOME/ceremony.yaml" --ca-dir "$MUHR_HOME/ca"
	touch "$MUHR_HOME/.initialized"
fi

ROOT_ID=$(sed -n '/^root:/,/^[a-z]/s/^  id: *//p' "$MUHR_HOME/ceremony.yaml" | head -n1)
cat <<TRY

Muhr is serving on http://$MUHR_LISTEN  (state in $MUHR_HOME; Ctrl-C stops it)
Try:
  curl -s http://$MUHR_LISTEN/healthz
  curl -s -o root.crt http://$MUHR_LISTEN/ca/$ROOT_ID.crt && openssl x509 -inform DER -in root.crt -noout -subject -nameopt utf8
  curl -s -o root.crl http://$MUHR_LISTEN/crl/$ROOT_ID.crl && openssl crl -inform DER -in root.crl -noout -text -CAfile $MUHR_HOME/ca/$ROOT_ID.pem
  $MUHR hsm keys --config $MUHR_HOME/muhrd.yaml
  $MUHR audit verify --config $MUHR_HOME/muhrd.yaml

TRY
exec "$MUHR_HOME/bin/muhrd" --config "$MUHR_HOME/muhrd.yaml"
