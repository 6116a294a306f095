package condotest

import (
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// leakWait is how long [Main] waits for goroutines started by the tests to
// end after the tests passed.
const leakWait = 5 * time.Second

// leakAllowlist names functions whose goroutines may outlive the tests: a
// goroutine with one of them anywhere in its stack is not a leak. Each
// entry says why it is long-lived on purpose.
var leakAllowlist = []string{
	// certmagic keeps one rate limiter per ACME directory and account in a
	// package-level map (acmeclient.go, throttle) and never stops them
	// (its own comment: "TODO: stop rate limiter when it is
	// garbage-collected"). Every test CA has its own directory URL, so
	// each test that talks ACME leaves one.
	"github.com/caddyserver/certmagic.(*RingBufferRateLimiter).loop",
	// certmagic's FileStorage refreshes a lock file every 5 s and notices
	// only then that Unlock removed it, so its goroutine may end up to 5 s
	// after a test that used FileStorage.
	"github.com/caddyserver/certmagic.keepLockfileFresh",
	// Pebble's validation authority (in-process test CA) starts its task
	// loop in va.New and has no way to stop it.
	"github.com/letsencrypt/pebble/v2/va.VAImpl.processTasks",
	// signal.Notify starts one goroutine for the life of the process.
	"os/signal.loop",
	// The runtime's finalizer and cleanup goroutines show up as user
	// goroutines while they run user code.
	"runtime.runfinq",
	"runtime.runCleanups",
}

// goroutine is one entry of runtime.Stack's dump of all goroutines.
type goroutine struct {
	id    int64
	stack string
}

// goroutines returns every user goroutine with its stack.
func goroutines() []goroutine {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []goroutine
	for _, g := range strings.Split(string(buf), "\n\n") {
		// "goroutine 18 [chan receive, 2 minutes]:"
		header, _, _ := strings.Cut(g, "\n")
		f := strings.Fields(header)
		if len(f) < 2 || f[0] != "goroutine" {
			continue
		}
		id, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		out = append(out, goroutine{id: id, stack: strings.TrimSpace(g)})
	}
	return out
}

// goroutineIDs returns the ids of the goroutines running now.
func goroutineIDs() map[int64]bool {
	ids := map[int64]bool{}
	for _, g := range goroutines() {
		ids[g.id] = true
	}
	return ids
}

// leaked returns the goroutines that were not running before (ids in
// before) and are not allowlisted.
func leaked(before map[int64]bool) []goroutine {
	var out []goroutine
	for _, g := range goroutines() {
		if before[g.id] || slices.ContainsFunc(leakAllowlist, func(fn string) bool { return strings.Contains(g.stack, fn) }) {
			continue
		}
		out = append(out, g)
	}
	return out
}

// checkLeaks waits up to wait for the goroutines started since before to
// end, and returns a report of those still running, or "" if none is.
func checkLeaks(before map[int64]bool, wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		gs := leaked(before)
		if len(gs) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			fmt.Fprintf(&b, "condotest: %d goroutine(s) started by the tests still running %s after they passed:\n", len(gs), wait)
			for _, g := range gs {
				b.WriteString("\n" + g.stack + "\n")
			}
			return b.String()
		}
		time.Sleep(50 * time.Millisecond) // polling the goroutines' exit; there is no signal for it
	}
}
