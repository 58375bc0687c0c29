package pkcs11

import "time"

// SetRetryInterval lets tests wait less between automatic re-login attempts.
func SetRetryInterval(t *Token, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.retryEvery = d
	t.nextTry = time.Time{}
}

// ProbeSignatures counts the signatures ProbeKey has made on t.
func ProbeSignatures(t *Token) int64 { return t.probeSigns.Load() }

// HoldSessions takes every session permit of t until release is called,
// as if every pooled session were busy.
func HoldSessions(t *Token) (release func()) {
	for range cap(t.sem) {
		t.sem <- struct{}{}
	}
	return func() {
		for range cap(t.sem) {
			<-t.sem
		}
	}
}
