package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/examples/hotels/web"
)

// hotelLoad drives a running serve the way the load tests need it: clients
// ask random tenants for their public hotel list and every 200 is checked
// to hold exactly that tenant's hotels. Tenant i of slugs has 1+i%3 hotels
// named "<slug> Hotel <n>" (createLoadTenants).
type hotelLoad struct {
	t     *testing.T
	hc    *http.Client
	slugs []string
	// wrong counts answers holding another tenant's rows or the wrong
	// number of rows; each is also a test error.
	wrong atomic.Int64
	// progress counts every request, answered or not.
	progress atomic.Int64
}

// loadResult is what one phase of load saw.
type loadResult struct {
	ok, failed int64
	first      string // the first failure
}

// newHotelLoad returns a load on serve listening at addr, for every host.
func newHotelLoad(t *testing.T, addr string, slugs []string) *hotelLoad {
	tr := &http.Transport{MaxIdleConnsPerHost: 32, DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &hotelLoad{t: t, slugs: slugs, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// createLoadTenants creates the n tenants a hotelLoad asks for, named
// prefix000…, each with 1+i%3 hotels and its public directory on.
// Creations run parallel at a time.
func createLoadTenants(ctx context.Context, t *testing.T, reg *condo.Registry, prefix string, n, parallel int) []string {
	t.Helper()
	slugs := make([]string, n)
	for i := range slugs {
		slugs[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i, slug := range slugs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			_, err := reg.Create(ctx, condo.CreateParams{Slug: slug, Name: slug,
				OnCreated: func(ctx context.Context, tx pgx.Tx, _ *condo.Tenant) error {
					if _, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) SELECT $1 || ' Hotel ' || g, 'Testville', 3 FROM generate_series(1, 1 + $2::int % 3) g", slug, i); err != nil {
						return err
					}
					// The load reads the public directory, off by default.
					return web.SetDirectoryTx(ctx, tx, true)
				}})
			if err != nil {
				t.Errorf("create %s: %v", slug, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return slugs
}

// get asks tenant i for its hotels: ok is a 200 whose rows are all the
// tenant's; a 200 with another tenant's rows fails the test.
func (l *hotelLoad) get(i int) (ok bool, detail string) {
	slug := l.slugs[i]
	resp, err := l.hc.Get("http://" + slug + ".localhost/hotels/")
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, err.Error()
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Sprintf("%s: status %d: %.200s", slug, resp.StatusCode, b)
	}
	var hotels []struct{ Name string }
	if err := json.Unmarshal(b, &hotels); err != nil {
		return false, err.Error()
	}
	if len(hotels) != 1+i%3 {
		l.wrong.Add(1)
		l.t.Errorf("%s: %d hotels, want %d", slug, len(hotels), 1+i%3)
	}
	for _, h := range hotels {
		if !strings.HasPrefix(h.Name, slug+" ") {
			l.wrong.Add(1)
			l.t.Errorf("%s got another tenant's row: %q", slug, h.Name)
		}
	}
	return true, ""
}

// getRandom asks a random tenant of the first n.
func (l *hotelLoad) getRandom(r *rand.Rand, n int) (bool, string) { return l.get(r.IntN(n)) }

// phase runs 16 clients on random tenants among the first n (all when n
// is 0) for d, or until limit requests, or until done returns true.
func (l *hotelLoad) phase(ctx context.Context, n int, d time.Duration, limit int64, done func() bool) loadResult {
	if n == 0 {
		n = len(l.slugs)
	}
	var res loadResult
	var mu sync.Mutex
	var count atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), uint64(time.Now().UnixNano())))
			for time.Now().Before(deadline) && count.Add(1) <= limit && !done() && ctx.Err() == nil {
				ok, detail := l.getRandom(r, n)
				l.progress.Add(1)
				mu.Lock()
				if ok {
					res.ok++
				} else {
					res.failed++
					if res.first == "" {
						res.first = detail
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return res
}

// never is a phase's done that waits for the duration or the limit.
func never() bool { return false }
