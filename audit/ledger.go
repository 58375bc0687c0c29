package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"github.com/muhr-pki/muhr/store"
)

// ActionLedgerBatch is the record the TSA's ledger appends in the
// transaction that inserts a batch of token rows: the rows' serials and a
// SHA-256 over their canonical bytes (LedgerDigest), so the chain vouches
// for every row and Check can show one deleted, added or changed.
const ActionLedgerBatch = "tsa.ledger.batch"

// ledgerObject is the object of every ledger batch record.
const ledgerObject = "tsa/ledger"

// ledgerDomain opens the digest's input, like domain does for records.
const ledgerDomain = "muhr-tsa-ledger-v1"

// LedgerBatch is the details of a tsa.ledger.batch record.
type LedgerBatch struct {
	Count   int      `json:"count"`
	Serials []string `json:"serials"` // lowercase hex, in the order the digest covers them
	SHA256  string   `json:"sha256"`  // hex LedgerDigest of the rows in that order
}

// LedgerDigest is SHA-256 over the domain tag, the row count and, for each
// row in order, every column the ledger stores: serial, gen_time,
// hash_alg, message_imprint, policy, requester, signer CA id, signer serial,
// token DER and issued_at. Serials are lowercase hex and times microseconds
// since the epoch, UTC, which is what the stores keep; variable fields are
// length-prefixed as in Canonical, so the encoding is injective.
func LedgerDigest(toks []store.TSAToken) []byte {
	h := sha256.New()
	field := func(p []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	num := func(v int64) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(v))
		h.Write(n[:])
	}
	text := func(s string) { field([]byte(s)) }
	field([]byte(ledgerDomain))
	num(int64(len(toks)))
	for _, t := range toks {
		text(serialHex(t.Serial))
		num(t.GenTime.UnixMicro())
		text(t.HashAlgorithm)
		field(t.MessageImprint)
		text(t.Policy)
		text(t.Requester)
		text(t.SignerCAID)
		text(serialHex(t.SignerSerial))
		field(t.TokenDER)
		num(t.IssuedAt.UnixMicro())
	}
	return h.Sum(nil)
}

// LedgerBatchEntry is the record for a batch of token rows, by actor. Append
// it in the transaction that inserts the rows.
func LedgerBatchEntry(actor string, toks []store.TSAToken) Entry {
	d := LedgerBatch{Count: len(toks), Serials: make([]string, len(toks)), SHA256: hex.EncodeToString(LedgerDigest(toks))}
	for i, t := range toks {
		d.Serials[i] = serialHex(t.Serial)
	}
	return Entry{Actor: actor, Action: ActionLedgerBatch, Object: ledgerObject, Details: d}
}
