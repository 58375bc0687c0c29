package clockguard

import (
	"context"
	"fmt"
	"time"

	"github.com/beevik/ntp"
)

// QueryNTP measures with github.com/beevik/ntp (NTPv4 over UDP). The local
// time comes from now, so the offset is that of the clock the TSA uses.
func QueryNTP(timeout time.Duration) Query {
	return func(ctx context.Context, server string, now func() time.Time) (Sample, error) {
		wait := timeout
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			wait = max(time.Until(dl), time.Millisecond)
		}
		r, err := ntp.QueryWithOptions(server, ntp.QueryOptions{Timeout: wait, GetSystemTime: now})
		if err != nil {
			return Sample{}, fmt.Errorf("ntp query: %w", err)
		}
		if err := r.Validate(); err != nil {
			return Sample{}, fmt.Errorf("ntp answer: %w", err)
		}
		return Sample{Offset: r.ClockOffset, RootDistance: r.RootDistance}, nil
	}
}
