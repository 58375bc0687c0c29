package ca

// SetFailpoint installs a hook that runs at each Stage of Issue; an error
// from it stops Issue there, as a crash would. Tests only.
func SetFailpoint(o *IssuerOptions, fp func(Stage) error) { o.failpoint = fp }
