package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/condotest"
)

// TestHotelsSurviveDatabaseRestart creates hotels through the tenant app,
// signed in, from several clients, while PostgreSQL is shut down (fast,
// then immediate) and started again. Every answer is the hotel's redirect
// (303: committed) or 503 with Retry-After, never a hang or a 500; the app
// serves again after each restart without being restarted itself; and
// every hotel whose creation was answered 303 is in the database at the
// end. (The private cluster keeps synchronous_commit on: see
// condotest.NewCluster.)
func TestHotelsSurviveDatabaseRestart(t *testing.T) {
	t.Parallel()
	cl := condotest.NewCluster(t)
	ta := newTestApp(t, &appOpts{cluster: cl})
	acme := ta.tenant("acme", "ann@acme.example")
	ctx := t.Context()

	type worker struct {
		c    *client
		csrf string
	}
	var workers []*worker
	for range 3 {
		c := ta.client()
		want(t, c.login("acme", "ann@acme.example", testPassword), http.StatusOK)
		p := c.get(ta.url("acme", "/hotels/new"))
		m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(p.Body)
		if m == nil {
			t.Fatalf("no CSRF token on the form (status %d)", p.Status)
		}
		// The token is bound to the session, not to one form.
		c.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		workers = append(workers, &worker{c: c, csrf: html.UnescapeString(m[1])})
	}

	var (
		mu       sync.Mutex
		acked    []string
		statuses = map[int]int{}
		bad      []string
		since    atomic.Int64 // unix nanos: record the first 303 after this
		first303 atomic.Int64 // unix nanos of the first 303 after since
		n503     atomic.Int64
		seq      atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		deadline = time.Now().Add(2 * time.Minute)
	)
	since.Store(math.MaxInt64)
	for i, w := range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("Load %d-%d", i, seq.Add(1))
				form := url.Values{"name": {name}, "city": {"Nice"}, "stars": {"3"}, "csrf": {w.csrf}}
				req, _ := http.NewRequestWithContext(ctx, "POST", ta.url("acme", "/hotels/new"), strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				start := time.Now()
				resp, err := w.c.c.Do(req) // the client's timeout is 10 s: a hang fails
				mu.Lock()
				if err != nil {
					bad = append(bad, fmt.Sprintf("%s: %v after %v", name, err, time.Since(start)))
					mu.Unlock()
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				statuses[resp.StatusCode]++
				switch {
				case resp.StatusCode == http.StatusSeeOther:
					acked = append(acked, name)
					if now := time.Now().UnixNano(); now > since.Load() {
						first303.CompareAndSwap(0, now)
					}
				case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
					n503.Add(1)
				default:
					bad = append(bad, fmt.Sprintf("%s: status %d, Retry-After %q: %s", name, resp.StatusCode, resp.Header.Get("Retry-After"), excerpt(string(body))))
				}
				mu.Unlock()
			}
		})
	}
	stopped := false
	stopWorkers := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopWorkers()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }

	condotest.WaitFor(t, 30*time.Second, "first hotels", func() bool { return count() >= 10 })
	for _, mode := range []struct {
		name string
		mode condotest.ShutdownMode
	}{{"fast", condotest.ShutdownFast}, {"immediate", condotest.ShutdownImmediate}} {
		cl.Shutdown(mode.mode)
		before := n503.Load()
		condotest.WaitFor(t, 30*time.Second, "503s while the database is down", func() bool { return n503.Load() >= before+10 })
		cl.Restart(t)
		back := time.Now()
		first303.Store(0)
		since.Store(back.UnixNano())
		condotest.WaitFor(t, 30*time.Second, "hotels created after the restart", func() bool { return first303.Load() != 0 })
		t.Logf("%s shutdown: first hotel created %v after the database was back", mode.name,
			time.Duration(first303.Load()-back.UnixNano()).Round(100*time.Microsecond))
		n := count()
		condotest.WaitFor(t, 30*time.Second, "more hotels", func() bool { return count() >= n+10 })
	}
	stopWorkers()
	t.Logf("statuses %v, %d hotels acknowledged", statuses, len(acked))
	for _, b := range bad {
		t.Errorf("unexpected answer: %s", b)
	}

	have := map[string]bool{}
	err := ta.env.Registry.InTx(ctx, acme, func(ctx context.Context, tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, "SELECT name FROM hotel")
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, n := range names {
			have[n] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for _, n := range acked {
		if !have[n] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged hotels missing after the restarts", missing, len(acked))
	}
}
