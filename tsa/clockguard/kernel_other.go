//go:build !linux

package clockguard

import "errors"

// ReadKernel is available on Linux only; elsewhere require_sync cannot be met.
func ReadKernel() (KernelState, error) {
	return KernelState{}, errors.New("adjtimex is only available on Linux")
}
