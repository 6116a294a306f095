package condotest

import (
	"strings"
	"testing"
	"time"
)

func parkedForLeakTest(stop chan struct{}) { <-stop }

func TestCheckLeaks(t *testing.T) {
	before := goroutineIDs()
	stop := make(chan struct{})
	go parkedForLeakTest(stop)
	report := checkLeaks(before, 100*time.Millisecond)
	if !strings.Contains(report, "condotest.parkedForLeakTest") || !strings.Contains(report, "1 goroutine(s)") {
		t.Errorf("report of a parked goroutine:\n%s", report)
	}
	// A goroutine that ends within the wait is no leak.
	go func() { time.Sleep(50 * time.Millisecond); close(stop) }() // ends the parked one while checkLeaks waits
	if report := checkLeaks(before, 5*time.Second); report != "" {
		t.Errorf("goroutines that ended were reported:\n%s", report)
	}
}
