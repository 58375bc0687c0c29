package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/muhr-pki/muhr/errkind"
	"github.com/muhr-pki/muhr/store"
)

// Check is Verify plus what the chain alone cannot show: it compares the
// certificates table and the TSA ledger with the records that vouch for
// them, and the chain with a head kept from an earlier run.
//
//   - Every cert.issue record (the issuer's and the ceremony's, for CA and
//     signer certificates alike) has its certificates row, whose DER has the
//     record's SHA-256; every row has exactly one cert.issue record.
//   - Every row's status is what the status-change records (cert.revoke,
//     cert.suspend, cert.unsuspend) say, valid when there are none: a row
//     marked revoked without a record fails.
//   - Every tsa.ledger.batch record's rows are all present and unchanged
//     (their LedgerDigest matches), and every ledger row is in one batch.
//   - With Options.Expect, the record at the kept head's seq has the kept
//     hash: removing the newest records, or rewriting them, fails.
//
// Memory stays bounded whatever the table sizes: the chain is read a page
// at a time; the rows a record names are fetched by key in groups of at
// most store.MaxLookup; "every row has its record" is shown by counting
// (each record is written in the transaction that inserts its row under the
// row's primary key, so a genuine chain names no row twice); only the
// certificates with status-change records are held, up to Options.MaxKeys.
// When a count differs, or more status changes exist than that, the rows
// are compared key by key in rounds that each hold at most about MaxKeys
// keys (one class of keys by hash per round), so the first bad row in key
// order is named at the cost of one more pass per round.
//
// Run it in one snapshot (store.Store.ReadSnapshot), or rows committed while
// it reads may show as missing records.
func Check(ctx context.Context, r store.Reader, o Options) (Report, error) {
	o = o.withDefaults()
	if o.PageSize <= 0 || o.MaxKeys <= 0 {
		return Report{}, fmt.Errorf("audit: page size %d and key bound %d must be positive", o.PageSize, o.MaxKeys)
	}
	c := &checker{r: r, o: o, status: map[string]statusMark{}}
	rep, err := walkChain(ctx, r, o.PageSize, o.Expect, c.record)
	if err != nil {
		return rep, err
	}
	if err := c.flush(ctx); err != nil {
		return rep, err
	}
	if err := c.certificates(ctx, &rep); err != nil {
		return rep, err
	}
	if err := c.ledger(ctx, &rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// Options tune Check.
type Options struct {
	// PageSize is how many records or rows one query reads
	// (DefaultPageSize when 0).
	PageSize int
	// Expect is a head kept from an earlier run; nil checks none.
	Expect *Head
	// MaxKeys bounds the keys held in memory at once (DefaultMaxKeys when
	// 0).
	MaxKeys int
}

// DefaultMaxKeys bounds the keys Check holds at once: a round of that many
// keys peaks near 40 MB of heap (BenchmarkCheckCertificates).
const DefaultMaxKeys = 100_000

func (o Options) withDefaults() Options {
	if o.PageSize == 0 {
		o.PageSize = DefaultPageSize
	}
	if o.MaxKeys == 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	return o
}

// ErrMismatch is what every *MismatchError matches with errors.Is.
var ErrMismatch = errkind.New(errkind.Internal, "audit: database does not match the chain")

// MismatchError names the first item of the database that the chain does
// not vouch for, or the first record whose item is not as it says.
type MismatchError struct {
	Item   string // "certificate qca-demo/1f2e", "TSA token 3a4b", "record 17"
	Seq    int64  // the record concerned; 0 when there is none
	Reason string
}

func (e *MismatchError) Error() string {
	s := "audit: " + e.Item + ": " + e.Reason
	if e.Seq > 0 && !strings.HasPrefix(e.Item, "record ") {
		s += fmt.Sprintf(" (record %d)", e.Seq)
	}
	return s
}

// Is makes errors.Is(err, ErrMismatch) true.
func (e *MismatchError) Is(target error) bool { return target == ErrMismatch }

func certItem(key string) string     { return "certificate " + key }
func tokenItem(serial string) string { return "TSA token " + serial }
func recordItem(seq int64) string    { return "record " + strconv.FormatInt(seq, 10) }

// Status-change actions and the status each leaves a certificate in. The
// revocation issue writes them; a row's status must be that of its last
// one, or valid when it has none.
func statusAction(action string) (string, bool) {
	switch action {
	case "cert.revoke":
		return store.CertStatusRevoked, true
	case "cert.suspend":
		return store.CertStatusOnHold, true
	case "cert.unsuspend":
		return store.CertStatusValid, true
	}
	return "", false
}

// ActionCertIssue is the record written in the transaction that stores a
// certificate, by the issuer and by the ceremony.
const ActionCertIssue = "cert.issue"

type statusMark struct {
	status string
	seq    int64
}

type pendingCert struct {
	issuer string
	serial *big.Int
	sha256 string
	seq    int64
}

type pendingBatch struct {
	seq     int64
	serials []*big.Int
	tags    []string
	sha256  []byte
}

type checker struct {
	r store.Reader
	o Options

	certs      []pendingCert
	batches    []pendingBatch
	batchRows  int
	certClaims int64
	tsaClaims  int64
	nBatches   int64
	nStatus    int64
	// status holds each certificate's last status change, until more than
	// MaxKeys certificates have one (overflow); then the rounds check them.
	status   map[string]statusMark
	overflow bool
}

// record takes one verified record of the first pass.
func (c *checker) record(ctx context.Context, rec store.AuditRecord) error {
	switch {
	case rec.Action == ActionCertIssue:
		issuer, serial, err := parseCertObject(rec)
		if err != nil {
			return err
		}
		var d struct {
			SHA256 string `json:"sha256"`
		}
		if err := json.Unmarshal(rec.Details, &d); err != nil || len(d.SHA256) != 2*sha256.Size {
			return &MismatchError{Item: recordItem(rec.Seq), Seq: rec.Seq, Reason: "cert.issue record has no sha256 of the certificate"}
		}
		c.certClaims++
		c.certs = append(c.certs, pendingCert{issuer: issuer, serial: serial, sha256: strings.ToLower(d.SHA256), seq: rec.Seq})
		if len(c.certs) >= store.MaxLookup {
			return c.flushCerts(ctx)
		}
	case rec.Action == ActionLedgerBatch:
		b, err := parseBatch(rec)
		if err != nil {
			return err
		}
		c.nBatches++
		c.tsaClaims += int64(len(b.serials))
		c.batches = append(c.batches, b)
		c.batchRows += len(b.serials)
		if c.batchRows >= store.MaxLookup {
			return c.flushBatches(ctx)
		}
	default:
		st, ok := statusAction(rec.Action)
		if !ok {
			return nil
		}
		issuer, serial, err := parseCertObject(rec)
		if err != nil {
			return err
		}
		c.nStatus++
		if c.overflow {
			return nil
		}
		c.status[certKey(issuer, serial)] = statusMark{status: st, seq: rec.Seq}
		if len(c.status) > c.o.MaxKeys {
			c.status, c.overflow = nil, true
		}
	}
	return nil
}

func (c *checker) flush(ctx context.Context) error {
	if err := c.flushCerts(ctx); err != nil {
		return err
	}
	return c.flushBatches(ctx)
}

// flushCerts looks up the pending records' rows and reports the first
// record (by seq) whose row is missing or differs.
func (c *checker) flushCerts(ctx context.Context) error {
	pending := c.certs
	c.certs = c.certs[:0]
	byIssuer := map[string][]*big.Int{}
	for _, p := range pending {
		byIssuer[p.issuer] = append(byIssuer[p.issuer], p.serial)
	}
	found := map[string][]byte{} // key -> SHA-256 of the row's DER
	for issuer, serials := range byIssuer {
		rows, err := c.r.GetCertificates(ctx, issuer, serials)
		if err != nil {
			return fmt.Errorf("audit: look up certificates of %s: %w", issuer, err)
		}
		for _, row := range rows {
			sum := sha256.Sum256(row.DER)
			found[certKey(row.IssuerID, row.Serial)] = sum[:]
		}
	}
	for _, p := range pending { // in seq order
		key := certKey(p.issuer, p.serial)
		sum, ok := found[key]
		switch {
		case !ok:
			return &MismatchError{Item: certItem(key), Seq: p.seq, Reason: "the chain records its issue, but the certificates table has no row for it"}
		case hex.EncodeToString(sum) != p.sha256:
			return &MismatchError{Item: certItem(key), Seq: p.seq,
				Reason: fmt.Sprintf("the row's certificate has SHA-256 %x, the record says %s: the row was changed", sum, p.sha256)}
		}
	}
	return nil
}

// flushBatches looks up the pending batches' rows and reports the first
// batch (by seq) with a row missing or changed.
func (c *checker) flushBatches(ctx context.Context) error {
	pending := c.batches
	c.batches, c.batchRows = c.batches[:0], 0
	var all []*big.Int
	for _, b := range pending {
		all = append(all, b.serials...)
	}
	rows := make(map[string]store.TSAToken, len(all))
	for chunk := range slices.Chunk(all, store.MaxLookup) {
		got, err := c.r.GetTSATokens(ctx, chunk)
		if err != nil {
			return fmt.Errorf("audit: look up TSA tokens: %w", err)
		}
		for _, t := range got {
			rows[serialHex(t.Serial)] = t
		}
	}
	for _, b := range pending {
		toks := make([]store.TSAToken, 0, len(b.serials))
		for _, s := range b.serials {
			t, ok := rows[serialHex(s)]
			if !ok {
				return &MismatchError{Item: tokenItem(serialHex(s)), Seq: b.seq,
					Reason: fmt.Sprintf("the chain's ledger batch of %d rows names it, but the ledger has no row for it", len(b.serials))}
			}
			toks = append(toks, t)
		}
		if got, rows := ledgerDigests(toks); !bytes.Equal(got, b.sha256) {
			for i, r := range rows {
				if tag := hex.EncodeToString(r[:RowTagSize]); tag != b.tags[i] {
					return &MismatchError{Item: tokenItem(serialHex(b.serials[i])), Seq: b.seq,
						Reason: fmt.Sprintf("the row's digest begins %s, the chain's ledger batch says %s: a row was changed", tag, b.tags[i])}
				}
			}
			return &MismatchError{Item: fmt.Sprintf("TSA tokens %s … %s (%d rows)", serialHex(b.serials[0]), serialHex(b.serials[len(b.serials)-1]), len(b.serials)),
				Seq: b.seq, Reason: fmt.Sprintf("the rows' digest is %x, the chain's ledger batch says %x: a row was changed", got, b.sha256)}
		}
	}
	return nil
}

// certificates walks the table in key order: counts rows and checks each
// row's status against the status changes held; when a count differs or the
// status changes did not fit in memory, the rounds name the first bad row.
func (c *checker) certificates(ctx context.Context, rep *Report) error {
	var rows int64
	var bad *MismatchError
	err := walkCerts(ctx, c.r, c.o.PageSize, func(row store.Certificate) error {
		rows++
		if c.overflow || bad != nil {
			return nil
		}
		key := certKey(row.IssuerID, row.Serial)
		want := statusMark{status: store.CertStatusValid}
		if m, ok := c.status[key]; ok {
			want = m
			delete(c.status, key)
		}
		if row.Status != want.status {
			bad = statusMismatch(key, row.Status, want)
		}
		return nil
	})
	if err != nil {
		return err
	}
	rep.Certificates, rep.StatusChanges = rows, c.nStatus
	if rows != c.certClaims || c.overflow {
		if err := c.locate(ctx, certSide(c.r, c.o.PageSize), max(rows, c.certClaims+c.nStatus)); err != nil {
			return err
		}
		if rows != c.certClaims {
			return &MismatchError{Item: "certificates table",
				Reason: fmt.Sprintf("%d rows, but the chain records %d issues", rows, c.certClaims)}
		}
		return nil
	}
	if bad != nil {
		return bad
	}
	if len(c.status) > 0 {
		// Status changes for certificates that are not stored.
		var first *MismatchError
		for key, m := range c.status {
			if first == nil || m.seq < first.Seq {
				first = &MismatchError{Item: certItem(key), Seq: m.seq, Reason: "the chain changes its status, but the certificates table has no row for it"}
			}
		}
		return first
	}
	return nil
}

func statusMismatch(key, got string, want statusMark) *MismatchError {
	if want.seq == 0 {
		return &MismatchError{Item: certItem(key),
			Reason: fmt.Sprintf("the row says %s, but no record in the chain changes its status", got)}
	}
	return &MismatchError{Item: certItem(key), Seq: want.seq,
		Reason: fmt.Sprintf("the row says %s, but the chain's last status change says %s", got, want.status)}
}

// ledger counts the ledger's rows against the batches' serials (each of
// which the first pass found unchanged); when they differ, the rounds name
// the first row no batch covers.
func (c *checker) ledger(ctx context.Context, rep *Report) error {
	n, err := c.r.CountTSATokens(ctx)
	if err != nil {
		return fmt.Errorf("audit: count TSA tokens: %w", err)
	}
	rep.TSATokens, rep.LedgerBatches = n, c.nBatches
	if n == c.tsaClaims {
		return nil
	}
	if err := c.locate(ctx, tokenSide(c.r, c.o.PageSize), max(n, c.tsaClaims)); err != nil {
		return err
	}
	return &MismatchError{Item: "TSA ledger", Reason: fmt.Sprintf("%d rows, but the chain's batches cover %d", n, c.tsaClaims)}
}

// walkCerts calls fn for every certificate row, in key order.
func walkCerts(ctx context.Context, r store.Reader, pageSize int, fn func(store.Certificate) error) error {
	issuer, serial := "", (*big.Int)(nil)
	for {
		page, err := r.CertificatesAfter(ctx, issuer, serial, pageSize)
		if err != nil {
			return fmt.Errorf("audit: read certificates: %w", err)
		}
		for _, row := range page {
			if err := fn(row); err != nil {
				return err
			}
		}
		if len(page) < pageSize {
			return nil
		}
		issuer, serial = page[len(page)-1].IssuerID, page[len(page)-1].Serial
	}
}

// walkTokens calls fn for every ledger row, in key order.
func walkTokens(ctx context.Context, r store.Reader, pageSize int, fn func(store.TSAToken) error) error {
	var after *big.Int
	for {
		page, err := r.TSATokensAfter(ctx, after, pageSize)
		if err != nil {
			return fmt.Errorf("audit: read TSA tokens: %w", err)
		}
		for _, row := range page {
			if err := fn(row); err != nil {
				return err
			}
		}
		if len(page) < pageSize {
			return nil
		}
		after = page[len(page)-1].Serial
	}
}

// A side is one table as the rounds see it: the claims the chain makes on
// its keys, and its rows in key order.
type side struct {
	// claims reports what rec says of which keys.
	claims func(rec store.AuditRecord, emit func(key string, issue bool, status string))
	// rows calls fn with each row's key, status ("" when rows have none)
	// and name, in key order.
	rows func(ctx context.Context, fn func(key, status, item string)) error
	// withStatus: rows carry a status the claims must match.
	withStatus bool
	item       func(key string) string
}

func certSide(r store.Reader, pageSize int) side {
	return side{
		claims: func(rec store.AuditRecord, emit func(string, bool, string)) {
			st, isStatus := statusAction(rec.Action)
			if rec.Action != ActionCertIssue && !isStatus {
				return
			}
			if issuer, serial, err := parseCertObject(rec); err == nil {
				emit(certKey(issuer, serial), !isStatus, st)
			}
		},
		rows: func(ctx context.Context, fn func(key, status, item string)) error {
			return walkCerts(ctx, r, pageSize, func(row store.Certificate) error {
				key := certKey(row.IssuerID, row.Serial)
				fn(key, row.Status, certItem(key))
				return nil
			})
		},
		withStatus: true,
		item:       certItem,
	}
}

func tokenSide(r store.Reader, pageSize int) side {
	return side{
		claims: func(rec store.AuditRecord, emit func(string, bool, string)) {
			if rec.Action != ActionLedgerBatch {
				return
			}
			if b, err := parseBatch(rec); err == nil {
				for _, s := range b.serials {
					emit(serialHex(s), true, "")
				}
			}
		},
		rows: func(ctx context.Context, fn func(key, status, item string)) error {
			return walkTokens(ctx, r, pageSize, func(row store.TSAToken) error {
				fn(serialHex(row.Serial), "", tokenItem(serialHex(row.Serial)))
				return nil
			})
		},
		item: tokenItem,
	}
}

type keyClaims struct {
	issues    int
	issueSeq  [2]int64 // the first two issue records
	status    statusMark
	seen      bool
	hasStatus bool
}

// locate compares a side key by key and returns the first bad row in key
// order (or, when every row is fine, the first record naming a key with no
// row). Keys are split by hash into rounds of about MaxKeys, each one pass
// over the chain and one over the rows.
func (c *checker) locate(ctx context.Context, s side, n int64) error {
	rounds := max(1, (n+int64(c.o.MaxKeys)-1)/int64(c.o.MaxKeys))
	var best *MismatchError
	bestPos := int64(-1)
	var bestSeq int64 // for records without rows, when no row is bad
	for round := range rounds {
		in := func(key string) bool {
			h := fnv.New64a()
			h.Write([]byte(key))
			return int64(h.Sum64()%uint64(rounds)) == round
		}
		m := map[string]*keyClaims{}
		_, err := walkChain(ctx, c.r, c.o.PageSize, nil, func(_ context.Context, rec store.AuditRecord) error {
			s.claims(rec, func(key string, issue bool, status string) {
				if !in(key) {
					return
				}
				k := m[key]
				if k == nil {
					k = &keyClaims{}
					m[key] = k
				}
				if issue {
					if k.issues < len(k.issueSeq) {
						k.issueSeq[k.issues] = rec.Seq
					}
					k.issues++
				} else {
					k.status, k.hasStatus = statusMark{status: status, seq: rec.Seq}, true
				}
			})
			return nil
		})
		if err != nil {
			return err
		}
		var pos int64
		err = s.rows(ctx, func(key, status, item string) {
			pos++
			if !in(key) || (bestPos >= 0 && pos >= bestPos) {
				return
			}
			k := m[key]
			var bad *MismatchError
			switch {
			case k == nil || k.issues == 0:
				bad = &MismatchError{Item: item, Reason: "the row has no record of its issue in the chain"}
			case k.issues > 1:
				bad = &MismatchError{Item: item, Seq: k.issueSeq[1],
					Reason: fmt.Sprintf("the chain records its issue twice (records %d and %d)", k.issueSeq[0], k.issueSeq[1])}
			case s.withStatus:
				want := statusMark{status: store.CertStatusValid}
				if k.hasStatus {
					want = k.status
				}
				if status != want.status {
					bad = statusMismatch(key, status, want)
				}
			}
			if k != nil {
				k.seen = true
			}
			if bad != nil {
				best, bestPos = bad, pos
			}
		})
		if err != nil {
			return err
		}
		if bestPos >= 0 {
			continue
		}
		for key, k := range m {
			if k.seen {
				continue
			}
			seq := k.issueSeq[0]
			if k.issues == 0 {
				seq = k.status.seq
			}
			if best == nil || seq < bestSeq {
				best, bestSeq = &MismatchError{Item: s.item(key), Seq: seq, Reason: "the chain names it, but the table has no row for it"}, seq
			}
		}
	}
	if best == nil {
		return nil
	}
	return best
}

func certKey(issuer string, serial *big.Int) string { return issuer + "/" + serialHex(serial) }

func serialHex(n *big.Int) string {
	if n == nil {
		return ""
	}
	return n.Text(16)
}

// parseCertObject reads "cert/<issuer>/<serial hex>".
func parseCertObject(rec store.AuditRecord) (string, *big.Int, error) {
	rest, ok := strings.CutPrefix(rec.Object, "cert/")
	issuer, hexSerial, ok2 := strings.Cut(rest, "/")
	serial, ok3 := new(big.Int).SetString(hexSerial, 16)
	if !ok || !ok2 || !ok3 || issuer == "" || serial.Sign() <= 0 || strings.HasPrefix(hexSerial, "-") || strings.HasPrefix(hexSerial, "+") {
		return "", nil, &MismatchError{Item: recordItem(rec.Seq), Seq: rec.Seq,
			Reason: fmt.Sprintf("%s record's object %q does not name a certificate (cert/<issuer>/<serial hex>)", rec.Action, rec.Object)}
	}
	return issuer, serial, nil
}

func parseBatch(rec store.AuditRecord) (pendingBatch, error) {
	var d LedgerBatch
	bad := func(why string) (pendingBatch, error) {
		return pendingBatch{}, &MismatchError{Item: recordItem(rec.Seq), Seq: rec.Seq, Reason: "ledger batch record " + why}
	}
	if err := json.Unmarshal(rec.Details, &d); err != nil {
		return bad("does not parse: " + err.Error())
	}
	sum, err := hex.DecodeString(d.SHA256)
	if err != nil || len(sum) != sha256.Size {
		return bad("has no sha256")
	}
	if d.Count != len(d.Serials) || d.Count != len(d.RowTags) || d.Count == 0 {
		return bad(fmt.Sprintf("counts %d rows but lists %d serials and %d row tags", d.Count, len(d.Serials), len(d.RowTags)))
	}
	b := pendingBatch{seq: rec.Seq, sha256: sum, tags: d.RowTags, serials: make([]*big.Int, len(d.Serials))}
	for i, s := range d.Serials {
		n, ok := new(big.Int).SetString(s, 16)
		if !ok || n.Sign() <= 0 || n.Text(16) != s {
			return bad(fmt.Sprintf("lists a bad serial %q", s))
		}
		b.serials[i] = n
	}
	return b, nil
}
