package ids

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckCA(t *testing.T) {
	for _, id := range []string{"qca-demo", "root-demo", "a", "0", "qca-2027", strings.Repeat("a", 63)} {
		if err := CheckCA(id); err != nil {
			t.Errorf("%q refused: %v", id, err)
		}
	}
	for _, id := range []string{"", "qca.2027", "QCA", "qca_1", "a/b", "-qca", "qcа", strings.Repeat("a", 64), "a b", ".."} {
		if err := CheckCA(id); !errors.Is(err, ErrCAID) {
			t.Errorf("%q accepted: %v", id, err)
		}
	}
}

func TestParseOID(t *testing.T) {
	for _, s := range []string{"0.4.0.2023.1.1", "1.3.6.1.4.1.59999.1.1", "2.999.1"} {
		if o, err := ParseOID(s); err != nil || o.String() != s {
			t.Errorf("%q: %v %v", s, o, err)
		}
	}
	for _, s := range []string{"", "1", "3.1", "1.40.1", "1.02.3", "01.2", "1..2", " 1.2", "1.2.", "1.2.a"} {
		if _, err := ParseOID(s); !errors.Is(err, ErrOID) {
			t.Errorf("%q accepted: %v", s, err)
		}
	}
}
