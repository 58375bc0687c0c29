#!/usr/bin/env bash
# Runs the Muhr center on its embedded default: SQLite and a SoftHSM2 token in
# $MUHR_HOME. The first run makes the demo CA hierarchy with a key ceremony;
# later runs reuse it. Stays in the foreground; Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

MUHR_HOME=${MUHR_HOME:-./.muhr}
MUHR_LISTEN=${MUHR_LISTEN:-127.0.0.1:8080}
# Operations listener (metrics, detailed health); set it empty to turn it off.
MUHR_OPS_LISTEN=${MUHR_OPS_LISTEN-127.0.0.1:9090}
# Officer API (HTTPS with officers' client certificates).
MUHR_ADMIN_LISTEN=${MUHR_ADMIN_LISTEN:-127.0.0.1:8443}
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
ops_listen: "$MUHR_OPS_LISTEN"
admin_listen: $MUHR_ADMIN_LISTEN
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
tsa:
  enabled: true
  signer_ca: qca-demo
  # Demo only: a laptop's clock may report itself unsynchronised; muhrd
  # warns about this at start. Production keeps require_sync on.
  require_sync: false
audit: {checkpoints: true}  # signed, timestamped chain heads in audit-checkpoints/ every 10 min
ocsp:
  # Answers the OCSP URL in every certificate's AIA, for every issuing CA.
  enabled: true
ra:
  # The officer API on admin_listen: registration and four-eyes approval.
  enabled: true
validate: {enabled: true} # POST /api/v1/validate: certificates and CAdES signatures
issuance:
  # Demo policy OID on a placeholder private arc; the PDS URLs are examples.
  policy_oid: 1.3.6.1.4.1.59999.1.1
  pds:
    - {url: https://muhr.example.tj/pds/en.pdf, language: en}
    - {url: https://muhr.example.tj/pds/tg.pdf, language: tg}
    - {url: https://muhr.example.tj/pds/ru.pdf, language: ru}
YAML
	mkdir -p "$MUHR_HOME/examples"
	cat >"$MUHR_HOME/examples/person.json" <<'JSON'
{"kind":"person","surname":"Раҳимов","given_name":"Ҷамшед","patronymic":"Ғафурович","personal_number":"123456789012","country":"TJ"}
JSON
	cat >"$MUHR_HOME/examples/organization.json" <<'JSON'
{"kind":"organization","name":"Вазорати адлияи Ҷумҳурии Тоҷикистон","registration_number":"0123456789","tax_number":"123456789","country":"TJ"}
JSON
	cp configs/ceremony-demo.yaml "$MUHR_HOME/ceremony.yaml"
	"$MUHR" db migrate --config "$MUHR_HOME/muhrd.yaml"
	# The ceremony ends with a verified backup of the token (SoftHSM2 can lose
	# token.object to a crash at login; see README, HSM layer notes).
	"$MUHR" ceremony run --config "$MUHR_HOME/ceremony.yaml" --ca-dir "$MUHR_HOME/ca" --backup-dir "$MUHR_HOME/backup"
	echo "muhr: token backed up in $MUHR_HOME/backup; if the keys are ever lost:" >&2
	echo "  $MUHR hsm restore --config $MUHR_HOME/muhrd.yaml --from \$(ls -d $MUHR_HOME/backup/token-* | tail -n1)" >&2
	# Demo officers, each with a key, a certificate from the management CA
	# and a ready CLI config in $MUHR_HOME/officers/<name>.yaml.
	for officer in registrar1:registrar registrar2:registrar,approver auditor:auditor admin:admin; do
		"$MUHR" officer bootstrap --config "$MUHR_HOME/muhrd.yaml" --name "${officer%%:*}" --roles "${officer#*:}" \
			--out-dir "$MUHR_HOME/officers" >&2
	done
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

  # issue a qualified signature certificate (key made here; --qscd if it were on a smart card)
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout me.key -subj /CN=ignored -out me.csr
  MUHR_HOME=$MUHR_HOME $MUHR dev issue --profile qes-person --csr me.csr --identity $MUHR_HOME/examples/person.json --out me.pem
  openssl x509 -in me.pem -noout -text -nameopt utf8 | head -30

  # at the counter: registrar1 registers a citizen and submits her CSR; registrar2 (an approver) approves
  $MUHR --config $MUHR_HOME/officers/registrar1.yaml subscriber register person --surname Раҳимова --given-name Мадина --patronymic Алиевна --personal-number 100000000001 --country TJ --evidence-type passport --evidence-number A1234567 | tee subscriber.txt
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout madina.key -subj /CN=ignored -out madina.csr
  $MUHR --config $MUHR_HOME/officers/registrar1.yaml request submit --subscriber "\$(sed -n 's/^id: *//p' subscriber.txt)" --profile qes-person --csr madina.csr | tee request.txt
  $MUHR --config $MUHR_HOME/officers/registrar2.yaml request approve "\$(sed -n 's/^id: *//p' request.txt)" | tee approved.txt
  $MUHR --config $MUHR_HOME/officers/registrar1.yaml cert get "\$(sed -n 's/^serial: *//p' approved.txt)" --out madina.pem && openssl x509 -in madina.pem -noout -subject -nameopt utf8
  $MUHR --config $MUHR_HOME/officers/auditor.yaml audit list --since 1h | tail -8

  # timestamp a file (RFC 3161)
  openssl ts -query -data README.md -sha256 -cert -out q.tsq
  curl -s -H 'Content-Type: application/timestamp-query' --data-binary @q.tsq http://$MUHR_LISTEN/tsa -o r.tsr
  openssl ts -verify -data README.md -in r.tsr -CAfile $MUHR_HOME/ca/$ROOT_ID.pem

TRY
exec "$MUHR_HOME/bin/muhrd" --config "$MUHR_HOME/muhrd.yaml"
