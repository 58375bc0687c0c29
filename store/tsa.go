package store

import (
	"context"
	"math/big"
	"time"
)

// TSAToken is one row of the timestamp ledger: a token the TSA issued. A row
// is written, and committed, before the token leaves the center, so the
// ledger answers "did the center issue this token?" for every token a
// relying party can hold. Serials are unique across all TSA units and
// processes for the center's lifetime; the database enforces it.
type TSAToken struct {
	Serial         *big.Int
	GenTime        time.Time // genTime in the token
	HashAlgorithm  string    // dotted OID of the message imprint's hash
	MessageImprint []byte
	Policy         string // dotted OID of the policy the token carries
	Requester      string // the client's network address as the server saw it
	SignerCAID     string // the TSA unit's signer row: its issuing CA ...
	SignerSerial   *big.Int
	TokenDER       []byte // the TimeStampToken (CMS SignedData), DER
	IssuedAt       time.Time
}

// TSAReader holds the ledger's queries.
type TSAReader interface {
	// GetTSAToken returns the token with the serial, or ErrNotFound.
	GetTSAToken(ctx context.Context, serial *big.Int) (TSAToken, error)
	// GetTSATokens returns the tokens with the given serials (at most
	// MaxLookup), in no particular order; serials not stored are left out.
	GetTSATokens(ctx context.Context, serials []*big.Int) ([]TSAToken, error)
	// TSATokensAfter returns up to limit tokens whose serial follows serial
	// in key order (the serial's lowercase hex, compared as the database
	// compares text); nil starts at the first.
	TSATokensAfter(ctx context.Context, serial *big.Int, limit int) ([]TSAToken, error)
	// CountTSATokens returns the number of rows in the ledger.
	CountTSATokens(ctx context.Context) (int64, error)
}

// TSAWriter records tokens.
type TSAWriter interface {
	// InsertTSAToken fails with ErrDuplicateSerial when the serial was ever
	// used (the database enforces it) and with ErrNotFound when the signer
	// row is unknown.
	InsertTSAToken(ctx context.Context, t TSAToken) error
	// InsertTSATokens writes the rows in one go (the TSA's group commit).
	// Its errors are InsertTSAToken's, without saying which row caused
	// them; after one, roll the transaction back.
	InsertTSATokens(ctx context.Context, ts []TSAToken) error
}
