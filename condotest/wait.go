package condotest

import (
	"errors"
	"testing"
	"time"
)

// WaitFor polls cond until it holds and returns how long that took, or
// fails t when timeout passes first, naming what it waited for. cond either
// reports whether it holds (func() bool) or returns nil when it holds and
// otherwise why not (func() error), and the last reason goes in the
// failure message.
//
// It is for conditions that can only be observed from outside, such as a
// served page, a log line, or another process's state. A condition the
// test can be told about should be a channel instead; a timeout here is a failure, never a way to let time pass.
//
// The polls start 5 ms apart and back off to 100 ms, so a condition that
// holds soon is seen soon and a slow one does not keep a core busy.
func WaitFor[C func() bool | func() error](t testing.TB, timeout time.Duration, what string, cond C) time.Duration {
	t.Helper()
	check := func() error {
		switch c := any(cond).(type) {
		case func() bool:
			if c() {
				return nil
			}
			return errNotYet
		case func() error:
			return c()
		}
		panic("unreachable")
	}
	start := time.Now()
	interval := 5 * time.Millisecond
	for {
		err := check()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			if errors.Is(err, errNotYet) {
				t.Fatalf("timed out after %v waiting for %s", timeout, what)
			} else {
				t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
			}
			return time.Since(start)
		}
		time.Sleep(interval) // polling an observable condition, bounded by timeout
		interval = min(2*interval, 100*time.Millisecond)
	}
}

var errNotYet = errors.New("not yet")
