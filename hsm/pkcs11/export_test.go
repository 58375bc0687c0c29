package pkcs11

import "time"

// SetRetryInterval lets tests wait less between automatic re-login attempts.
func SetRetryInterval(t *Token, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.retryEvery = d
	t.nextTry = time.Time{}
}
