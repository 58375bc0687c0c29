package sqlstore

import (
	"context"
	"fmt"
	"math/big"
	"strings"

	"github.com/muhr-pki/muhr/store"
)

// The timestamp ledger.

const tsaColumns = "serial, gen_time, hash_alg, message_imprint, policy, requester, signer_ca_id, signer_serial, token_der, issued_at"

func (c conn) GetTSAToken(ctx context.Context, serial *big.Int) (store.TSAToken, error) {
	hex, err := serialText(serial)
	if err != nil {
		return store.TSAToken{}, err
	}
	var tk store.TSAToken
	err = c.row(ctx, "SELECT "+tsaColumns+" FROM tsa_tokens WHERE serial = ?", hex).Scan(
		hexInto{&tk.Serial}, timeInto{&tk.GenTime}, &tk.HashAlgorithm, &tk.MessageImprint, &tk.Policy, &tk.Requester,
		&tk.SignerCAID, hexInto{&tk.SignerSerial}, &tk.TokenDER, timeInto{&tk.IssuedAt})
	if err != nil {
		return store.TSAToken{}, c.errorf(err, "TSA token %s", hex)
	}
	return tk, nil
}

func (t *tx) InsertTSAToken(ctx context.Context, tk store.TSAToken) error {
	return t.InsertTSATokens(ctx, []store.TSAToken{tk})
}

// maxTSARowsPerInsert bounds the rows of one INSERT: 10 parameters a row
// stays far below SQLite's 32,766 and PostgreSQL's 65,535.
const maxTSARowsPerInsert = 256

// InsertTSATokens writes the rows with one multi-row INSERT per
// maxTSARowsPerInsert: one statement to parse on SQLite and one round trip
// on PostgreSQL for a whole group commit, instead of one of each per row.
func (t *tx) InsertTSATokens(ctx context.Context, tks []store.TSAToken) error {
	for len(tks) > 0 {
		n := min(len(tks), maxTSARowsPerInsert)
		if err := t.insertTSATokens(ctx, tks[:n]); err != nil {
			return err
		}
		tks = tks[n:]
	}
	return nil
}

const tsaRowPlaceholders = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

func (t *tx) insertTSATokens(ctx context.Context, tks []store.TSAToken) error {
	var q strings.Builder
	q.Grow(64 + len(tsaColumns) + len(tks)*(len(tsaRowPlaceholders)+2))
	q.WriteString("INSERT INTO tsa_tokens (" + tsaColumns + ") VALUES ")
	args := make([]any, 0, 10*len(tks))
	for i, tk := range tks {
		hex, err := serialText(tk.Serial)
		if err != nil {
			return err
		}
		signer, err := serialText(tk.SignerSerial)
		if err != nil {
			return err
		}
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(tsaRowPlaceholders)
		args = append(args, hex, t.d.time(tk.GenTime), tk.HashAlgorithm, tk.MessageImprint, tk.Policy, tk.Requester,
			tk.SignerCAID, signer, tk.TokenDER, t.d.time(tk.IssuedAt))
	}
	if _, err := t.exec(ctx, q.String(), args...); err != nil {
		// The statement does not say which row failed it: a caller that
		// needs to know inserts the rows one by one.
		if len(tks) == 1 {
			return t.insertErr(err, store.ErrDuplicateSerial,
				fmt.Errorf("no TSA signer %s/%s: %w", tks[0].SignerCAID, args[7], store.ErrNotFound), "insert TSA token %s", args[0])
		}
		return t.insertErr(err, store.ErrDuplicateSerial,
			fmt.Errorf("a row's TSA signer is unknown: %w", store.ErrNotFound), "insert %d TSA tokens", len(tks))
	}
	return nil
}
