package ca_test

import (
	"context"
	"crypto"
	"crypto/rand"
	_ "crypto/sha256"
	_ "crypto/sha512"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/muhr-pki/muhr/ca"
	"github.com/muhr-pki/muhr/policy"
)

// BenchmarkIssue measures the whole issuance pipeline (CSR checks, profile,
// serial, zlint, intent + audit, HSM signature, store + audit) on each
// backend, next to its two ceilings measured in the same run: the raw
// signing rate of the issuing CA's key on SoftHSM and zlint's pre-issuance
// rate on the same certificate. Run with:
//
//	go test -run '^$' -bench BenchmarkIssue -benchtime 2000x ./ca
//
// Each result reports certs/s (or sigs/s); all sub-benchmarks run
// b.RunParallel, so lint and sign overlap on both cores. The demo issuing
// CA has a P-384 key; a P-256 variant shows how much of the pipeline is
// ECDSA arithmetic (Go verifies every signature CreateCertificate makes,
// the throwaway one for lint and the HSM's).
func BenchmarkIssue(b *testing.B) {
	ctx := context.Background()
	for _, v := range []struct{ backend, caKey string }{
		{"sqlite", "ecdsa-p384"}, {"postgres", "ecdsa-p384"}, {"postgres", "ecdsa-p256"},
	} {
		backend := v.backend
		b.Run(v.backend+"/"+v.caKey, func(b *testing.B) {
			c := newCenterWith(b, backend, func(p *ca.Plan) { p.Issuing[0].Key.Algorithm = v.caKey })
			iss := c.issuer(b, "qca-demo", c.keys, nil)
			id := identity(b, personJSON)
			csrs := func(n int) [][]byte {
				out := make([][]byte, n)
				for i := range out {
					out[i] = csrFor(b, newKey(b), nil)
				}
				return out
			}
			var seq atomic.Int64
			req := func(csr []byte) ca.Request {
				return ca.Request{ID: fmt.Sprintf("bench-%s-%d", backend, seq.Add(1)), Profile: "qes-person", CSR: csr, Identity: id, Actor: "bench"}
			}

			b.Run("pipeline", func(b *testing.B) {
				pool := csrs(b.N)
				var next atomic.Int64
				// Requests wait on the database and the token as well as on
				// the CPU: 4 per core keep both cores busy.
				b.SetParallelism(4)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := iss.IssueRequest(ctx, req(pool[next.Add(1)-1])); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "certs/s")
			})

			// The two halves: Prepare (CSR checks, profile, zlint) and
			// Issue (intent, HSM signature, store, two audit records).
			b.Run("prepare", func(b *testing.B) {
				pool := csrs(b.N)
				var next atomic.Int64
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := iss.Prepare(ctx, req(pool[next.Add(1)-1])); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "certs/s")
			})
			b.Run("issue", func(b *testing.B) {
				pool := csrs(b.N)
				prepared := make([]*ca.Prepared, b.N)
				for i := range prepared {
					p, err := iss.Prepare(ctx, req(pool[i]))
					if err != nil {
						b.Fatal(err)
					}
					prepared[i] = p
				}
				var next atomic.Int64
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := iss.Issue(ctx, prepared[next.Add(1)-1]); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "certs/s")
			})

			// Ceiling 1: the CA key signing a SHA-384 digest on the token.
			b.Run("hsm-sign", func(b *testing.B) {
				s, err := c.keys.Signer(ctx, "qca-demo")
				if err != nil {
					b.Fatal(err)
				}
				hash := crypto.SHA384
				if v.caKey == "ecdsa-p256" {
					hash = crypto.SHA256
				}
				h := hash.New()
				h.Write([]byte("tbs"))
				digest := h.Sum(nil)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := s.Sign(rand.Reader, digest, hash); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
			})

			// Ceiling 2: zlint (with our own lints) on the same certificate.
			b.Run("zlint", func(b *testing.B) {
				cert, err := iss.IssueRequest(ctx, req(csrFor(b, newKey(b), nil)))
				if err != nil {
					b.Fatal(err)
				}
				linter := policy.NewLinter()
				prof, _ := policy.ProfileByName("qes-person")
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						res, err := linter.Lint(cert.Raw, prof.Kind)
						if err != nil || res.Err() != nil {
							b.Error(err, res.Err())
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "certs/s")
			})
		})
	}
}
