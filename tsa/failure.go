package tsa

import (
	"encoding/asn1"
	"fmt"

	"github.com/muhr-pki/muhr/errkind"
)

// Failure is a PKIFailureInfo bit (RFC 3161 section 2.4.2).
type Failure int

// The failures this TSA reports.
const (
	BadAlg              Failure = 0
	BadRequest          Failure = 2
	BadDataFormat       Failure = 5
	TimeNotAvailable    Failure = 14
	UnacceptedPolicy    Failure = 15
	UnacceptedExtension Failure = 16
	SystemFailure       Failure = 25
)

func (f Failure) String() string {
	switch f {
	case BadAlg:
		return "badAlg"
	case BadRequest:
		return "badRequest"
	case BadDataFormat:
		return "badDataFormat"
	case TimeNotAvailable:
		return "timeNotAvailable"
	case UnacceptedPolicy:
		return "unacceptedPolicy"
	case UnacceptedExtension:
		return "unacceptedExtension"
	case SystemFailure:
		return "systemFailure"
	}
	return fmt.Sprintf("failure(%d)", int(f))
}

// Rejection is a refused request: the failure bit and a short text for the
// client (statusString). It never carries internal error details.
type Rejection struct {
	Failure Failure
	Text    string
}

func (r *Rejection) Error() string { return r.Failure.String() + ": " + r.Text }

// ErrorKind places a refusal in the center's error taxonomy: a request the
// TSA cannot honour is invalid input, a clock it does not trust is
// unavailable, anything else is internal.
func (r *Rejection) ErrorKind() string {
	switch r.Failure {
	case BadAlg, BadRequest, BadDataFormat, UnacceptedPolicy, UnacceptedExtension:
		return errkind.Invalid.String()
	case TimeNotAvailable:
		return errkind.Unavailable.String()
	}
	return errkind.Internal.String()
}

func reject(f Failure, format string, args ...any) *Rejection {
	return &Rejection{Failure: f, Text: fmt.Sprintf(format, args...)}
}

// PKIStatus values (RFC 3161 section 2.4.2).
const (
	statusGranted   = 0
	statusRejection = 2
)

// pkiStatusInfo is encoded here rather than by the timestamp library, whose
// error response carries no statusString.
type pkiStatusInfo struct {
	Status       int
	StatusString []asn1.RawValue `asn1:"optional"` // PKIFreeText: SEQUENCE OF UTF8String
	FailInfo     asn1.BitString  `asn1:"optional"`
}

type timeStampResp struct {
	Status         pkiStatusInfo
	TimeStampToken asn1.RawValue `asn1:"optional"`
}

// failInfoBits is the DER named-bit-list with only bit f set: trailing zero
// bits are dropped, so the bit string ends at f.
func failInfoBits(f Failure) asn1.BitString {
	n := int(f)
	b := make([]byte, n/8+1)
	b[n/8] = 0x80 >> (n % 8)
	return asn1.BitString{Bytes: b, BitLength: n + 1}
}

// Encode returns the DER TimeStampResp for the rejection.
func (r *Rejection) Encode() []byte {
	resp := timeStampResp{Status: pkiStatusInfo{
		Status:   statusRejection,
		FailInfo: failInfoBits(r.Failure),
	}}
	if r.Text != "" {
		text, err := asn1.MarshalWithParams(r.Text, "utf8")
		if err == nil {
			resp.Status.StatusString = []asn1.RawValue{{FullBytes: text}}
		}
	}
	der, err := asn1.Marshal(resp)
	if err != nil {
		// An INTEGER, UTF8Strings and a BIT STRING: cannot fail.
		panic(fmt.Sprintf("tsa: encode rejection: %v", err))
	}
	return der
}
