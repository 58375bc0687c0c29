package tsatest

import (
	"sync"
	"time"
)

// StepClock is the real clock whose wall reading the test can step, and
// whose time the test can move forward on both readings at once. It
// satisfies clockguard.Clock.
type StepClock struct {
	mu    sync.Mutex
	start time.Time
	step  time.Duration
	extra time.Duration
}

// NewStepClock starts a clock that reads the real time.
func NewStepClock() *StepClock { return &StepClock{start: time.Now()} }

// Wall is the real wall time plus the steps and the time passed.
func (c *StepClock) Wall() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Round(0).Add(c.step + c.extra)
}

// Mono is the real monotonic time since start plus the time passed.
func (c *StepClock) Mono() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Since(c.start) + c.extra
}

// Step moves the wall clock alone, as settimeofday would.
func (c *StepClock) Step(d time.Duration) { c.mu.Lock(); c.step += d; c.mu.Unlock() }

// Pass moves both readings, as time passing would.
func (c *StepClock) Pass(d time.Duration) { c.mu.Lock(); c.extra += d; c.mu.Unlock() }
