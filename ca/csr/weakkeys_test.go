package csr

import (
	"crypto/rand"
	"math/big"
	"testing"
)

// Hand-made weak RSA keys. Each is a real key pair, so the CSRs built from
// them carry valid signatures and the test sees the intended refusal, not
// a signature failure.

func rsaExponent3(t testing.TB) *rawRSA {
	for {
		// gcd(3, p-1) = 1 needs p ≡ 2 (mod 3).
		p, q := prime(t, 1024), prime(t, 1024)
		if p.Uint64()%3 != 2 || q.Uint64()%3 != 2 {
			continue
		}
		if k := rsaFromPrimes(t, p, q, 3); k != nil {
			return k
		}
	}
}

// rsaBits builds a key of exactly `bits` bits from two primes of about
// half the size each.
func rsaBits(t testing.TB, bits int) *rawRSA {
	for {
		k := rsaFromPrimes(t, prime(t, (bits+1)/2), prime(t, bits/2), 65537)
		if k != nil && k.N.BitLen() == bits {
			return k
		}
	}
}

func rsaSmallFactor(t testing.TB) *rawRSA {
	for {
		k := rsaFromPrimes(t, big.NewInt(7919), prime(t, 2035), 65537)
		if k != nil && k.N.BitLen() == 2048 {
			return k
		}
	}
}

// rsaFermat draws p, then takes q as the next prime after p + δ with a
// 400-bit δ: far apart in absolute terms, yet Fermat's method finds them
// in the first step because (q-p)² ≪ √n.
func rsaFermat(t testing.TB) *rawRSA {
	for {
		p := prime(t, 1024)
		delta, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 400))
		q := nextPrime(new(big.Int).Add(p, delta))
		k := rsaFromPrimes(t, p, q, 65537)
		if k != nil && k.N.BitLen() == 2048 {
			return k
		}
	}
}

// rsaROCA builds both primes as RSALib did: p = k·M + (65537^a mod M) with
// M the product of the first 39 primes (2...167), as RSALib used for
// 512-bit primes. Only the residues modulo the small primes matter to
// the fingerprint, so it carries over to 1024-bit primes.
func rsaROCA(t testing.TB) *rawRSA {
	m := big.NewInt(1)
	for _, p := range smallPrimes()[:39] {
		m.Mul(m, new(big.Int).SetUint64(p))
	}
	// k in [1.5·2^1023/M, 2^1024/M) puts p in [1.5·2^1023, 2^1024), so
	// n = pq has exactly 2048 bits.
	lo := new(big.Int).Div(new(big.Int).Lsh(big.NewInt(3), 1022), m)
	lo.Add(lo, big.NewInt(1))
	span := new(big.Int).Sub(new(big.Int).Div(new(big.Int).Lsh(big.NewInt(1), 1024), m), lo)
	rocaPrime := func() *big.Int {
		for {
			a, _ := rand.Int(rand.Reader, m)
			g := new(big.Int).Exp(big.NewInt(65537), a, m)
			k, _ := rand.Int(rand.Reader, span)
			p := k.Add(k, lo).Mul(k, m).Add(k, g)
			if p.ProbablyPrime(20) {
				return p
			}
		}
	}
	for {
		k := rsaFromPrimes(t, rocaPrime(), rocaPrime(), 65537)
		if k != nil && k.N.BitLen() == 2048 {
			return k
		}
	}
}
