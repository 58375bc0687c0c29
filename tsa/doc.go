// Package tsa is the center's RFC 3161 / RFC 5816 time-stamping authority:
// it checks a TimeStampReq, reads the time from a clock that refuses to
// answer when it cannot be trusted, builds the token itself (encoding/asn1:
// the request's messageImprint byte for byte, genTime to the microsecond),
// signs it with the TSA unit's key in the HSM, records it in the ledger
// (without its certificates) and only then releases it.
//
// Every failure is answered with a TimeStampResp of status rejection and the
// PKIFailureInfo bit that says why (see Failure); HTTP errors are reserved
// for requests that are not time-stamp requests at all (wrong method, media
// type or size).
package tsa
