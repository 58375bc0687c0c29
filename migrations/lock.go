package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// fileLocker is goose's session lock for SQLite: an exclusive flock on a
// sidecar file. SQLite's own locks cover one transaction, but goose reads
// the version and then applies migrations in several, so two processes could
// both see version 0 and both create the tables.
type fileLocker struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// lockPoll is how often a waiting migrator retries the lock.
const lockPoll = 20 * time.Millisecond

func (l *fileLocker) SessionLock(ctx context.Context, _ *sql.Conn) error {
	f, err := lockFile(ctx, l.path)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.f = f
	l.mu.Unlock()
	return nil
}

// LockFile takes the exclusive flock on path (created 0600) that migrators
// hold, waiting until ctx ends. SQLite's Open holds it while it switches a
// new database to WAL: that switch needs an exclusive database lock and
// SQLite answers SQLITE_BUSY at once, without its busy handler, when
// another process is opening the same new file. Closing the file releases it.
func LockFile(ctx context.Context, path string) (*os.File, error) { return lockFile(ctx, path) }

func lockFile(ctx context.Context, path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("migration lock %s: %w", path, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("migration lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("migration lock %s: waited for another migrator: %w", path, ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}

func (l *fileLocker) SessionUnlock(context.Context, *sql.Conn) error {
	l.mu.Lock()
	f := l.f
	l.f = nil
	l.mu.Unlock()
	if f == nil {
		return nil
	}
	// Closing the file releases the flock.
	return f.Close()
}
