package ca

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strings"
)

// shortNames are the attribute names people read in our subjects; Go's
// pkix.Name.String prints organizationIdentifier (2.5.4.97) as hex.
var shortNames = map[string]string{
	"2.5.4.6": "C", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.3": "CN", "2.5.4.97": "organizationIdentifier",
	"2.5.4.4": "SN", "2.5.4.42": "GN", "2.5.4.5": "serialNumber", "2.5.4.7": "L", "2.5.4.8": "ST",
}

// SubjectString renders a name in certificate order (C first), the way
// `openssl x509 -nameopt utf8` does, for output meant for people.
func SubjectString(rdns pkix.RDNSequence) string {
	var parts []string
	for _, rdn := range rdns {
		for _, atv := range rdn {
			name, ok := shortNames[atv.Type.String()]
			if !ok {
				name = atv.Type.String()
			}
			parts = append(parts, name+"="+fmt.Sprint(atv.Value))
		}
	}
	return strings.Join(parts, ", ")
}

// parseSubject decodes a DER subject; on error it returns nil.
func parseSubject(raw []byte) pkix.RDNSequence {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &rdns); err != nil || len(rest) > 0 {
		return nil
	}
	return rdns
}
