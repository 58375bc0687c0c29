package server

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/muhr-pki/muhr/httpx"
	"github.com/muhr-pki/muhr/policy/ids"
)

// maxIDLen bounds a CA id in a URL; ids are short slugs ("root-2026").
const maxIDLen = ids.MaxCALen

// Content types of the repository (RFC 2585 for DER certificates and CRLs).
const (
	contentTypeCert = "application/pkix-cert"
	contentTypeCRL  = "application/pkix-crl"
	contentTypePEM  = "application/x-pem-file"
)

// caCacheControl: a CA certificate under a given id does not change, but a
// day bounds the damage if one is ever replaced by mistake.
const caCacheControl = "public, max-age=86400"

// handleCA serves /ca/<id>.crt (DER) and /ca/<id>.pem. ServeMux wildcards
// are whole segments, so the extension is split off here.
func (s *Server) handleCA(w http.ResponseWriter, r *http.Request) {
	id, ext, ok := s.parseFile(w, r, "crt", "pem")
	if !ok {
		return
	}
	ca, err := s.repo.GetCA(r.Context(), id)
	if err != nil {
		httpx.Fail(w, r, s.log, err, "unknown CA "+id)
		return
	}
	if len(ca.CertDER) == 0 {
		httpx.Fail(w, r, s.log, fmt.Errorf("CA %s has no certificate stored", id), "")
		return
	}
	body, ctype := ca.CertDER, contentTypeCert
	if ext == "pem" {
		body = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.CertDER})
		ctype = contentTypePEM
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", caCacheControl)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// handleCRL serves /crl/<id>.crl, the issuer's latest CRL in DER.
func (s *Server) handleCRL(w http.ResponseWriter, r *http.Request) {
	id, _, ok := s.parseFile(w, r, "crl")
	if !ok {
		return
	}
	crl, err := s.repo.LatestCRL(r.Context(), id)
	if err != nil {
		httpx.Fail(w, r, s.log, err, "no CRL for "+id)
		return
	}
	if len(crl.DER) == 0 {
		httpx.Fail(w, r, s.log, fmt.Errorf("CRL %v of %s has no DER stored", crl.Number, id), "")
		return
	}
	now := s.clock()
	if !crl.NextUpdate.After(now) {
		// Still serve it: it is the newest we have, and relying parties
		// judge staleness themselves. But someone must reissue it.
		s.log.WarnContext(r.Context(), "serving a CRL past its nextUpdate",
			"issuer", id, "number", crl.Number, "next_update", crl.NextUpdate)
	}
	w.Header().Set("Content-Type", contentTypeCRL)
	w.Header().Set("Cache-Control", crlCacheControl(now, crl.NextUpdate, s.crlMaxAge))
	// ServeContent sets Last-Modified from ThisUpdate and answers
	// If-Modified-Since with 304.
	http.ServeContent(w, r, "", crl.ThisUpdate, bytes.NewReader(crl.DER))
}

// crlCacheControl lets caches keep a CRL no longer than its nextUpdate, and
// no longer than maxAge so a CRL reissued after a revocation is seen soon.
func crlCacheControl(now, nextUpdate time.Time, maxAge time.Duration) string {
	age := min(nextUpdate.Sub(now), maxAge)
	secs := int64(age / time.Second)
	if secs <= 0 {
		return "no-cache"
	}
	return "public, max-age=" + strconv.FormatInt(secs, 10)
}

// parseFile splits the {file} wildcard into id and extension. The id is
// checked before any lookup so odd input never reaches the store; it
// answers 400 for a bad id and 404 for an extension the route does not
// serve.
func (s *Server) parseFile(w http.ResponseWriter, r *http.Request, exts ...string) (id, ext string, ok bool) {
	file := r.PathValue("file")
	dot := strings.LastIndexByte(file, '.')
	if dot < 0 {
		http.Error(w, "not found: expected <id>."+strings.Join(exts, " or <id>."), http.StatusNotFound)
		return "", "", false
	}
	id, ext = file[:dot], file[dot+1:]
	if err := validID(id); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return "", "", false
	}
	for _, e := range exts {
		if ext == e {
			return id, ext, true
		}
	}
	http.Error(w, "not found: expected <id>."+strings.Join(exts, " or <id>."), http.StatusNotFound)
	return "", "", false
}

// validID is the one CA-id rule (ids.CheckCA), so every id the ceremony
// accepts is served.
func validID(id string) error {
	return ids.CheckCA(id)
}
