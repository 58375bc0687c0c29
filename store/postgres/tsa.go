package postgres

import (
	"context"
	"fmt"
	"math/big"

	"github.com/muhr-pki/muhr/store"
)

const tsaColumns = "serial, gen_time, hash_alg, message_imprint, policy, requester, signer_ca_id, signer_serial, token_der, issued_at"

func (r reader) GetTSAToken(ctx context.Context, serial *big.Int) (store.TSAToken, error) {
	hex, err := serialText(serial)
	if err != nil {
		return store.TSAToken{}, err
	}
	var tk store.TSAToken
	var ser, signerSer string
	err = r.q.QueryRow(ctx, "SELECT "+tsaColumns+" FROM tsa_tokens WHERE serial = $1", hex).Scan(
		&ser, &tk.GenTime, &tk.HashAlgorithm, &tk.MessageImprint, &tk.Policy, &tk.Requester, &tk.SignerCAID, &signerSer,
		&tk.TokenDER, &tk.IssuedAt)
	if err != nil {
		return store.TSAToken{}, notFound(err, "postgres: TSA token %s", hex)
	}
	if tk.Serial, err = parseHex(ser); err != nil {
		return store.TSAToken{}, err
	}
	if tk.SignerSerial, err = parseHex(signerSer); err != nil {
		return store.TSAToken{}, err
	}
	tk.GenTime, tk.IssuedAt = tk.GenTime.UTC(), tk.IssuedAt.UTC()
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
	_, err = t.t.Exec(ctx, "INSERT INTO tsa_tokens ("+tsaColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
		hex, ts(tk.GenTime), tk.HashAlgorithm, tk.MessageImprint, tk.Policy, tk.Requester, tk.SignerCAID, signer,
		tk.TokenDER, ts(tk.IssuedAt))
	if err != nil {
		return insertErr(err, store.ErrDuplicateSerial,
			fmt.Errorf("no TSA signer %s/%s: %w", tk.SignerCAID, signer, store.ErrNotFound), "insert TSA token %s", hex)
	}
	return nil
}
