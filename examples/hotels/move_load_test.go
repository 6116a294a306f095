package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/examples/hotels/web"
)

// TestMoveTierUnderLoad is issue 13's must-show: the app over real HTTP,
// 40 tenants read by 16 clients on random hosts (each answer checked to
// hold only its tenant's hotels), and on one more tenant 4 writers adding
// hotels through the tenant app's form and 2 readers of its directory,
// while that tenant moves schema → database → schema. Every acknowledged
// write (a 303 to the new hotel) must be in the tenant after the moves,
// no answer may hold another tenant's row, and no request may fail: a
// transaction that hit the fenced old copy is run again at the new place.
// Each move's duration and write pause are logged.
func TestMoveTierUnderLoad(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, &appOpts{tiers: true, poolSize: 24})
	ctx := t.Context()
	reg := ta.env.Registry
	slugs := createLoadTenants(ctx, t, reg, "ml", 40, 4)
	const owner = "owner@mover.example"
	mover := ta.tenant("mover", owner, "mover seed")
	err := reg.InTx(ctx, mover, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) SELECT 'mover bulk ' || g, 'Testville', 3 FROM generate_series(1, 20000) g"); err != nil {
			return err
		}
		return web.SetDirectoryTx(ctx, tx, true)
	})
	if err != nil {
		t.Fatal(err)
	}

	addr := ta.srv.Listener.Addr().String()
	load := newHotelLoad(t, addr, slugs)
	var stop atomic.Bool
	var acked sync.Map // hotel name → true, for every 303
	var writes, writeErrs, reads, readErrs, wrongRows atomic.Int64
	var firstErr atomic.Value
	fail := func(counter *atomic.Int64, format string, args ...any) {
		counter.Add(1)
		firstErr.CompareAndSwap(nil, fmt.Sprintf(format, args...))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		c := ta.client()
		c.login("mover", owner, testPassword)
		form := c.get(ta.url("mover", "/hotels/new"))
		m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(form.Body)
		if m == nil {
			t.Fatalf("no CSRF token on the new hotel form (status %d)", form.Status)
		}
		csrf := html.UnescapeString(m[1])
		hc := &http.Client{Jar: c.c.Jar, Transport: c.c.Transport, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				name := fmt.Sprintf("mover w%d-%d", g, n)
				resp, err := hc.PostForm(ta.url("mover", "/hotels/new"), url.Values{"csrf": {csrf}, "name": {name}, "city": {"Testville"}, "stars": {"4"}})
				if err != nil {
					fail(&writeErrs, "write %s: %v", name, err)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusSeeOther {
					fail(&writeErrs, "write %s: status %d: %.200s", name, resp.StatusCode, body)
					continue
				}
				acked.Store(name, true)
				writes.Add(1)
			}
		})
	}
	rc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}}
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				resp, err := rc.Get("http://mover.localhost/hotels/")
				if err != nil {
					fail(&readErrs, "read mover: %v", err)
					continue
				}
				var hotels []struct{ Name string }
				err = json.NewDecoder(resp.Body).Decode(&hotels)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || err != nil {
					fail(&readErrs, "read mover: status %d, %v", resp.StatusCode, err)
					continue
				}
				for _, h := range hotels {
					if !strings.HasPrefix(h.Name, "mover ") {
						wrongRows.Add(1)
						t.Errorf("mover's directory holds another tenant's hotel %q", h.Name)
					}
				}
				reads.Add(1)
			}
		})
	}

	var movesDone atomic.Bool
	var moving sync.WaitGroup
	moving.Go(func() {
		defer movesDone.Store(true)
		for _, tier := range []condo.Tier{condo.TierDatabase, condo.TierSchema} {
			before := writes.Load()
			res, err := reg.MoveTier(ctx, "mover", tier, "", nil)
			if err != nil {
				t.Errorf("move to %s: %v", tier, err)
				return
			}
			t.Logf("move to %s: %d rows copied, %v in all, write pause %v; %d writes acknowledged during it",
				tier, res.Rows, res.Duration.Round(time.Millisecond), res.WritePause.Round(time.Microsecond), writes.Load()-before)
		}
	})
	res := load.phase(ctx, 0, 5*time.Minute, 1<<40, movesDone.Load)
	moving.Wait()
	stop.Store(true)
	wg.Wait()
	t.Logf("other tenants: %d ok, %d failed; mover: %d writes acknowledged, %d write errors, %d reads, %d read errors; wrong-tenant rows %d",
		res.ok, res.failed, writes.Load(), writeErrs.Load(), reads.Load(), readErrs.Load(), load.wrong.Load()+wrongRows.Load())
	if res.failed > 0 || writeErrs.Load() > 0 || readErrs.Load() > 0 {
		t.Errorf("errors: %d reads of other tenants (first: %s), %d writes, %d reads of mover (first: %v)",
			res.failed, res.first, writeErrs.Load(), readErrs.Load(), firstErr.Load())
	}
	if load.wrong.Load()+wrongRows.Load() != 0 || writes.Load() == 0 || reads.Load() == 0 {
		t.Errorf("wrong-tenant rows %d, writes %d, reads %d", load.wrong.Load()+wrongRows.Load(), writes.Load(), reads.Load())
	}

	// Every acknowledged write is in the tenant, where it lives now.
	now, err := reg.Get(ctx, "mover")
	if err != nil || now.Tier != condo.TierSchema {
		t.Fatalf("mover after the moves: %+v, %v", now, err)
	}
	have := map[string]bool{}
	err = reg.InTx(ctx, now, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT name FROM hotel WHERE name LIKE 'mover w%'")
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, n := range names {
			have[n] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	acked.Range(func(k, _ any) bool {
		if !have[k.(string)] {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged write %s is lost", k)
			}
		}
		return true
	})
	if lost > 0 {
		t.Errorf("%d of %d acknowledged writes lost", lost, writes.Load())
	}
	ta.noErrors()
}
