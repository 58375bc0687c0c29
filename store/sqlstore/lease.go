package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// AcquireLease takes or renews the named lease in one statement: the
// insert wins when no row exists, the update only when the row is holder's
// or has expired, so two processes racing for a free or expired lease
// cannot both get it (the row's lock orders them; the second sees the
// first's fresh expiry and changes nothing).
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return false, fmt.Errorf("store: lease %q for %q: name, holder and a positive ttl are required", name, holder)
	}
	res, err := s.db.ExecContext(ctx, s.d.rebind(`INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`),
		name, holder, s.d.time(now.Add(ttl)), s.d.time(now))
	if err != nil {
		return false, fmt.Errorf("%s: acquire lease %s: %w", s.d.Name, name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%s: acquire lease %s: %w", s.d.Name, name, err)
	}
	return n == 1, nil
}

// ReleaseLease deletes the lease if holder has it, so a successor need not
// wait for it to expire.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.db.ExecContext(ctx, s.d.rebind(`DELETE FROM leases WHERE name = ? AND holder = ?`), name, holder); err != nil {
		return fmt.Errorf("%s: release lease %s: %w", s.d.Name, name, err)
	}
	return nil
}
