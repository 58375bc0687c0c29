package policy

// kindError is a sentinel that names its kind in the center's error
// taxonomy (package errkind recognises the ErrorKind method) without
// importing it: policy imports nothing of ours.
type kindError struct{ msg, kind string }

func (e *kindError) Error() string     { return e.msg }
func (e *kindError) ErrorKind() string { return e.kind }

// newError returns a sentinel of the named kind: "invalid", "forbidden",
// "not_found", "conflict", "unavailable" or "internal".
func newError(kind, msg string) error { return &kindError{msg: msg, kind: kind} }
