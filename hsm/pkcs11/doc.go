// Package pkcs11 is Muhr's hsm.KeyStore on a PKCS#11 token (a network HSM
// through its vendor's library, or SoftHSM2), built directly on
// github.com/miekg/pkcs11.
//
// crypto11 v1.6.2 is not used: it logs in once in Configure, puts a session
// back into its pool whatever error it returned, caches object handles in its
// keys, and has no notion of health, so after CKR_SESSION_HANDLE_INVALID,
// CKR_DEVICE_REMOVED or CKR_USER_NOT_LOGGED_IN every later signature fails
// silently. The small pool here re-opens, logs in again, retries once and
// reports unhealthy until it has.
package pkcs11
