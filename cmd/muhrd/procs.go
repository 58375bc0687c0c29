package main

import (
	"github.com/muhr-pki/muhr/config"
)

// gomaxprocs is the GOMAXPROCS muhrd serves with, given Go's own value
// (base), the token's session pool and whether a selected role signs on
// the token.
//
// A goroutine in a PKCS#11 call keeps its P for the whole call (about
// 80 µs for a SoftHSM2 signature, a millisecond or more on a network HSM).
// With one P per core, each live signature while HTTP work waits makes
// the scheduler take that P back and wake another thread for it, and the
// signing goroutine queue for a P again when the call returns: two thread
// switches per signature. One P more per session, each of which can be in
// a call at once, leaves the cores' Ps to the HTTP goroutines. Measured
// on 2 cores (scripts/bench/ocsp.sh): nonce answers about +10% and less
// client CPU per answer; cached answers unchanged.
//
// An operator's GOMAXPROCS environment variable wins over the default, a
// runtime.gomaxprocs setting over both.
func gomaxprocs(r config.Runtime, base, sessions int, signs, envSet bool) int {
	switch {
	case r.GOMAXPROCS > 0:
		return r.GOMAXPROCS
	case r.GOMAXPROCS < 0, envSet, !signs:
		return base
	}
	return base + sessions
}
