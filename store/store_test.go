package store_test

import (
	"reflect"
	"testing"

	"github.com/muhr-pki/muhr/store"
)

// The audit chain is appended only through audit: no write of the store
// takes a ready-made record (which could skip or fork the chain); the one
// audit write takes an entry that the store seals with audit.Seal.
func TestNoWriteTakesAnAuditRecord(t *testing.T) {
	rec := reflect.TypeFor[store.AuditRecord]()
	for _, it := range []reflect.Type{reflect.TypeFor[store.Tx](), reflect.TypeFor[store.Store]()} {
		for m := range it.Methods() {
			for in := range m.Type.Ins() {
				if in == rec || in == reflect.PointerTo(rec) || (in.Kind() == reflect.Slice && in.Elem() == rec) {
					t.Errorf("%s.%s takes a %s: records must come from audit.Seal", it.Name(), m.Name, in)
				}
			}
		}
	}
}
