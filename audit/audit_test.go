package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/muhr-pki/muhr/audit"
	"github.com/muhr-pki/muhr/store"
)

// memLog is an in-memory audit log: an audit.Chain that seals like the
// store does, and just enough of store.Reader for Verify. The contract suite
// runs the same code against the real databases.
type memLog struct {
	store.Reader // unused methods panic
	recs         []store.AuditRecord
}

func (m *memLog) AppendAudit(_ context.Context, at time.Time, e audit.Entry) (store.AuditRecord, error) {
	var last *store.AuditRecord
	if len(m.recs) > 0 {
		last = &m.recs[len(m.recs)-1]
	}
	r, err := audit.Seal(last, at, e)
	if err != nil {
		return store.AuditRecord{}, err
	}
	m.recs = append(m.recs, r)
	return r, nil
}

func (m *memLog) AuditRecords(_ context.Context, after int64, limit int) ([]store.AuditRecord, error) {
	var out []store.AuditRecord
	for _, r := range m.recs {
		if r.Seq > after && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.UTC)

func fill(t *testing.T, n int) *memLog {
	t.Helper()
	m := &memLog{}
	for i := range n {
		if _, err := audit.Append(t.Context(), m, t0.Add(time.Duration(i)*time.Minute),
			audit.Entry{Actor: "a", Action: "x.y", Object: "o", Details: map[string]int{"i": i}}); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func TestAppendChains(t *testing.T) {
	m := fill(t, 3)
	if !bytes.Equal(m.recs[0].PrevHash, make([]byte, 32)) {
		t.Errorf("first prev_hash = %x, want zeros", m.recs[0].PrevHash)
	}
	for i, r := range m.recs {
		if r.Seq != int64(i+1) {
			t.Errorf("record %d has seq %d", i, r.Seq)
		}
		if !bytes.Equal(r.Hash, audit.Hash(r)) {
			t.Errorf("record %d: hash does not cover the record", r.Seq)
		}
		if i > 0 && !bytes.Equal(r.PrevHash, audit.Hash(m.recs[i-1])) {
			t.Errorf("record %d: prev_hash is not the previous record's hash", r.Seq)
		}
		if r.Time.Nanosecond()%1000 != 0 || r.Time.Location() != time.UTC {
			t.Errorf("record %d: time %v not truncated to µs UTC", r.Seq, r.Time)
		}
	}
	rep, err := audit.Verify(t.Context(), m)
	if err != nil || rep.Records != 3 || !bytes.Equal(rep.Head, m.recs[2].Hash) {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
}

func TestAppendRefusesIncompleteEntries(t *testing.T) {
	for _, e := range []audit.Entry{{Action: "x"}, {Actor: "a"}, {Actor: "a", Action: "x", Details: json.RawMessage("{")},
		{Actor: "a", Action: "x", Details: json.RawMessage("{} {}")}, {Actor: "a", Action: "x", Details: func() {}}} {
		m := &memLog{}
		if _, err := audit.Append(t.Context(), m, t0, e); !errors.Is(err, audit.ErrInvalidEntry) || len(m.recs) != 0 {
			t.Errorf("Append(%+v) = %v, %d records; want ErrInvalidEntry and none", e, err, len(m.recs))
		}
	}
}

// The store calls Seal directly, so Seal refuses what Append refuses.
func TestSealRefusesIncompleteEntries(t *testing.T) {
	for _, e := range []audit.Entry{{Action: "x"}, {Actor: "a"}, {Actor: "a", Action: "x", Details: json.RawMessage("{")}} {
		if _, err := audit.Seal(nil, t0, e); !errors.Is(err, audit.ErrInvalidEntry) {
			t.Errorf("Seal(%+v) = %v; want ErrInvalidEntry", e, err)
		}
	}
}

func TestCanonicalDetails(t *testing.T) {
	for _, c := range []struct {
		in   any
		want string
	}{
		{nil, `{}`},
		{json.RawMessage(` { "b" : 1, "a" : [ 1 , 2.50 ] } `), `{"a":[1,2.50],"b":1}`},
		{map[string]any{"z": "<&>", "a": uint64(12345678901234567890)}, `{"a":12345678901234567890,"z":"<&>"}`},
		{struct {
			B string `json:"b"`
			A int    `json:"a"`
		}{"Ҷамшед", 1}, `{"a":1,"b":"Ҷамшед"}`},
		{[]byte(`"just a string"`), `"just a string"`},
	} {
		got, err := audit.CanonicalDetails(c.in)
		if err != nil || string(got) != c.want {
			t.Errorf("CanonicalDetails(%v) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
}

// Every field is covered, and length prefixes keep field boundaries: moving
// a byte from one field to the next changes the hash.
func TestHashCoversEveryField(t *testing.T) {
	r := fill(t, 1).recs[0]
	h := audit.Hash(r)
	for name, change := range map[string]func(*store.AuditRecord){
		"seq":      func(r *store.AuditRecord) { r.Seq++ },
		"time":     func(r *store.AuditRecord) { r.Time = r.Time.Add(time.Microsecond) },
		"actor":    func(r *store.AuditRecord) { r.Actor += "x" },
		"action":   func(r *store.AuditRecord) { r.Action = "x.yz" },
		"boundary": func(r *store.AuditRecord) { r.Actor, r.Action = "ax", ".y" },
		"object":   func(r *store.AuditRecord) { r.Object = "" },
		"details":  func(r *store.AuditRecord) { r.Details = json.RawMessage(`{"i":1}`) },
		"prev":     func(r *store.AuditRecord) { r.PrevHash = bytes.Repeat([]byte{1}, 32) },
	} {
		c := r
		change(&c)
		if bytes.Equal(audit.Hash(c), h) {
			t.Errorf("changing %s leaves the hash unchanged", name)
		}
	}
	// Sub-microsecond differences are not stored, so they must not count.
	c := r
	c.Time = c.Time.Add(999 * time.Nanosecond)
	if !bytes.Equal(audit.Hash(c), h) {
		t.Error("hash depends on nanoseconds the stores drop")
	}
}

func wantBroken(t *testing.T, m *memLog, seq int64) {
	t.Helper()
	for _, ps := range []int{1, 2, 1000} {
		_, err := audit.VerifyPaged(t.Context(), m, ps)
		var ce *audit.ChainError
		if !errors.As(err, &ce) || ce.Seq != seq || !errors.Is(err, audit.ErrChainBroken) {
			t.Fatalf("VerifyPaged(%d) = %v, want chain broken at %d", ps, err, seq)
		}
	}
}

// An intruder who rewrites a record and recomputes its hash is caught by the
// next record's prev_hash.
func TestVerifyRewrittenWithHash(t *testing.T) {
	m := fill(t, 5)
	m.recs[1].Actor = "mallory"
	m.recs[1].Hash = audit.Hash(m.recs[1])
	wantBroken(t, m, 3)
}

func TestVerifyRenumbered(t *testing.T) {
	m := fill(t, 5)
	m.recs = append(m.recs[:2], m.recs[3:]...)
	for i := 2; i < len(m.recs); i++ { // renumber and rehash: the splice still shows
		m.recs[i].Seq--
		m.recs[i].Hash = audit.Hash(m.recs[i])
	}
	wantBroken(t, m, 3)
}

func TestVerifyFirstRecordNeedsZeroPrev(t *testing.T) {
	m := fill(t, 2)
	m.recs[0].PrevHash = bytes.Repeat([]byte{7}, 32)
	m.recs[0].Hash = audit.Hash(m.recs[0])
	wantBroken(t, m, 1)
}

func TestVerifyEmpty(t *testing.T) {
	rep, err := audit.Verify(t.Context(), &memLog{})
	if err != nil || rep.Records != 0 || rep.Head != nil {
		t.Fatalf("Verify of an empty log = %+v, %v", rep, err)
	}
	if _, err := audit.VerifyPaged(t.Context(), &memLog{}, 0); err == nil {
		t.Error("page size 0 accepted")
	}
}
