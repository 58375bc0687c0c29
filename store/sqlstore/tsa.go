package sqlstore

import (
	"context"
	"fmt"
	"math/big"

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
	hex, err := serialText(tk.Serial)
	if err != nil {
		return err
	}
	signer, err := serialText(tk.SignerSerial)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, "INSERT INTO tsa_tokens ("+tsaColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		hex, t.d.time(tk.GenTime), tk.HashAlgorithm, tk.MessageImprint, tk.Policy, tk.Requester, tk.SignerCAID, signer,
		tk.TokenDER, t.d.time(tk.IssuedAt))
	if err != nil {
		return t.insertErr(err, store.ErrDuplicateSerial,
			fmt.Errorf("no TSA signer %s/%s: %w", tk.SignerCAID, signer, store.ErrNotFound), "insert TSA token %s", hex)
	}
	return nil
}
