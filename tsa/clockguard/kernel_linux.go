package clockguard

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// ReadKernel reads the kernel clock discipline with adjtimex(2) in read-only
// mode (modes = 0, no privilege needed).
func ReadKernel() (KernelState, error) {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return KernelState{}, fmt.Errorf("adjtimex: %w", err)
	}
	return KernelState{
		Synced:   state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0,
		MaxError: time.Duration(tx.Maxerror) * time.Microsecond,
	}, nil
}
