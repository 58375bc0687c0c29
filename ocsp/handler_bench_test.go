package ocsp_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	xocsp "golang.org/x/crypto/ocsp"

	"github.com/muhr-pki/muhr/httpx"
	"github.com/muhr-pki/muhr/ocsp"
)

type fixedSource struct{ c *ocsp.Cached }

func (s fixedSource) Response(context.Context, ocsp.CertID) (*ocsp.Cached, error) { return s.c, nil }
func (s fixedSource) Sign(context.Context, *ocsp.Request) ([]byte, error)         { return s.c.DER, nil }

// discardWriter is the least a ResponseWriter can be, so the benchmark
// measures the handler chain and not net/http's buffering.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkCachedGETChain is one cached GET through the handler chain as
// muhrd mounts it (Wrap with metrics, Mux raw route, Responder), with a
// fixed answer: the per-request cost Muhr adds on top of net/http.
func BenchmarkCachedGETChain(b *testing.B) {
	now := time.Now()
	c := &ocsp.Cached{DER: make([]byte, 900), ThisUpdate: now, NextUpdate: now.Add(24 * time.Hour), ETag: `"abc"`}
	cert, err := x509.ParseCertificate(fixedCert)
	if err != nil {
		b.Fatal(err)
	}
	reqDER, err := xocsp.CreateRequest(cert, cert, &xocsp.RequestOptions{Hash: crypto.SHA1})
	if err != nil {
		b.Fatal(err)
	}
	path := ocsp.GETPrefix + base64.StdEncoding.EncodeToString(reqDER)
	mux := httpx.NewMux()
	h := ocsp.NewResponder(fixedSource{c}, nil)
	mux.Handle("POST /ocsp", h, httpx.MaxBody(ocsp.MaxRequestBytes))
	mux.HandleRaw(http.MethodGet, ocsp.GETPrefix, h)
	mux.HandleRaw(http.MethodPost, ocsp.GETPrefix, h, httpx.MaxBody(ocsp.MaxRequestBytes))
	m, err := httpx.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	chain := httpx.Wrap(mux, httpx.Options{Listener: "public", Metrics: m, MaxBodyBytes: 1 << 20})
	r, err := http.NewRequest(http.MethodGet, "http://x"+path, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("chain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w := &discardWriter{h: http.Header{}}
			chain.ServeHTTP(w, r)
		}
	})
	nonceDER := marshal(b, tReq{TBS: tTBS{List: certIDs(cert, crypto.SHA1, big.NewInt(7)),
		Exts: []pkix.Extension{nonceExt([]byte("0123456789abcdef0123456789abcdef"))}}})
	b.Run("chain-nonce-post", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w := &discardWriter{h: http.Header{}}
			r, _ := http.NewRequest(http.MethodPost, "http://x/ocsp", bytes.NewReader(nonceDER))
			r.Header.Set("Content-Type", "application/ocsp-request")
			chain.ServeHTTP(w, r)
		}
	})
	b.Run("responder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w := &discardWriter{h: http.Header{}}
			h.ServeHTTP(w, r)
		}
	})
}
