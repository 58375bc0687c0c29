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
	// RowTags are the first RowTagSize bytes (hex) of each row's
	// LedgerRowDigest: they only say which row of a batch changed; SHA256
	// is what vouches for the rows.
	RowTags []string `json:"row_tags"`
	SHA256  string   `json:"sha256"` // hex LedgerDigest of the rows in that order
}

// RowTagSize is the length of a row tag in bytes.
const RowTagSize = 8

// LedgerRowDigest is SHA-256 over the domain tag and every column the
// ledger stores for one row: serial, gen_time, hash_alg, message_imprint,
// policy, requester, signer CA id, signer serial, token DER and issued_at.
// Serials are lowercase hex and times microseconds since the epoch, UTC,
// which is what the stores keep; every variable field is length-prefixed as
// in Canonical, so the encoding is injective.
func LedgerRowDigest(t store.TSAToken) []byte {
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
	return h.Sum(nil)
}

// LedgerDigest is SHA-256 over the domain tag, the row count and each row's
// LedgerRowDigest, in order.
func LedgerDigest(toks []store.TSAToken) []byte {
	d, _ := ledgerDigests(toks)
	return d
}

func ledgerDigests(toks []store.TSAToken) (batch []byte, rows [][]byte) {
	h := sha256.New()
	var n [8]byte
	h.Write([]byte(ledgerDomain))
	binary.BigEndian.PutUint64(n[:], uint64(len(toks)))
	h.Write(n[:])
	rows = make([][]byte, len(toks))
	for i, t := range toks {
		rows[i] = LedgerRowDigest(t)
		h.Write(rows[i])
	}
	return h.Sum(nil), rows
}

// LedgerBatchEntry is the record for a batch of token rows, by actor. Append
// it in the transaction that inserts the rows.
func LedgerBatchEntry(actor string, toks []store.TSAToken) Entry {
	batch, rows := ledgerDigests(toks)
	d := LedgerBatch{Count: len(toks), Serials: make([]string, len(toks)), RowTags: make([]string, len(toks)),
		SHA256: hex.EncodeToString(batch)}
	for i, t := range toks {
		d.Serials[i] = serialHex(t.Serial)
		d.RowTags[i] = hex.EncodeToString(rows[i][:RowTagSize])
	}
	return Entry{Actor: actor, Action: ActionLedgerBatch, Object: ledgerObject, Details: d}
}
