package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/examples/hotels/migrations"
	"github.com/condo-dev/condo/internal/pgcluster"
)

// W5 at scale (issue 15): W5 over a database grown to -scale-tenants real
// tenants (each made by Registry.Create: schema, tables, role, grants,
// 10 hotels × 3 rooms) in the sharded design, runtime login roles each
// serving id % shards of the tenants on their own pool and provisioning
// roles making the tenant roles; interleaved with W3 as W5 is, once
// without and once with one tenant created per second for the whole
// pair of runs (the creations' cluster-wide membership resets reach the
// W3 server's backends too).

// scaleDB is the database W5 at scale grows, kept between runs.
const scaleDB = "w5s"

// runW5Scale is W5 at each of -scale-tenants.
func runW5Scale(ctx context.Context, e *env) ([]string, error) {
	url := e.cl.URL(scaleDB, scaleDB)
	if err := pgcluster.CreateDatabase(ctx, e.admin, pgcluster.DatabaseParams{Name: scaleDB}); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := condomigrate.New(pool, &condomigrate.Config{Shared: migrations.Shared(), Tenant: migrations.Tenant(), Logger: quiet})
	if err != nil {
		return nil, err
	}
	if _, err := m.MigrateShared(ctx, nil); err != nil {
		return nil, err
	}
	reg := condo.NewRegistry(pool, m, &condo.RegistryConfig{Logger: quiet})
	if _, err := condo.Provision(ctx, pool, e.o.scaleProv); err != nil {
		return nil, err
	}
	var shardURLs []string
	for k := range e.o.scaleShards {
		rt := fmt.Sprintf("%s_rt_%d", scaleDB, k)
		if _, err := pool.Exec(ctx, "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '"+rt+"') THEN CREATE ROLE "+rt+" LOGIN NOINHERIT; END IF; END$$"); err != nil {
			return nil, err
		}
		if _, err := condo.GrantRuntime(ctx, pool, rt, &condo.GrantRuntimeOpts{Shards: e.o.scaleShards, Shard: k}); err != nil {
			return nil, err
		}
		shardURLs = append(shardURLs, e.o.dbURL(e.cl.URL(rt, scaleDB)))
	}
	var prof *stmtProfile
	if e.o.scaleStatements {
		if prof, err = newStmtProfile(ctx, e.cl.URL(pgcluster.Superuser, scaleDB), e.o.out); err != nil {
			return nil, err
		}
		defer prof.close()
	}
	var lines []string
	for _, n := range e.o.scaleTenants {
		if err := growTenants(ctx, reg, n, prof); err != nil {
			return lines, err
		}
		if e.o.scaleVacuum {
			if err := vacuum(ctx, e.cl.URL(pgcluster.Superuser, scaleDB)); err != nil {
				return lines, err
			}
			logf("%s: vacuumed at %d tenants", scaleDB, n)
		}
		// Before the server starts, so nothing else is serving, on a
		// cluster just started (its buffers empty): the worst case.
		first, err := firstRequests(ctx, reg, shardURLs, n, 7)
		if err != nil {
			return lines, err
		}
		first += " (cluster just started)"
		logf("%s", first)
		lines = append(lines, first)
		maddr, err := freeAddr()
		if err != nil {
			return lines, err
		}
		// The reserve is filled before the server starts (one reset of
		// the memberships per batch, none during the runs but its
		// refills) and refilled until this size's runs end.
		stopReserve, err := startReserve(ctx, reg, e.o.scaleReserve)
		if err != nil {
			return lines, err
		}
		srv, err := startServer(ctx, e.o, url, "tenant", fmt.Sprintf("w5s-%d", n), "-runtime-shard-urls", strings.Join(shardURLs, ","), "-metrics-addr", maddr)
		if err != nil {
			stopReserve()
			return lines, err
		}
		stop := func() { srv.stop(); stopReserve() }
		if err := checkSample(ctx, srv.addr, n, e.o.sample); err != nil {
			stop()
			return lines, fmt.Errorf("W5 at %d check: %w", n, err)
		}
		if e.o.scalePrewarm {
			took, slowest, err := prewarm(ctx, srv.addr, n)
			if err != nil {
				stop()
				return lines, fmt.Errorf("W5 at %d prewarm: %w", n, err)
			}
			line := fmt.Sprintf("W5s %d prewarm: every tenant requested once in %.0f s (%.0f req/s), slowest %.0f ms; load %s", n, took.Seconds(), float64(n)/took.Seconds(), ms(slowest.Microseconds()), loadAvg())
			logf("%s", line)
			lines = append(lines, line)
		}
		for _, creating := range []bool{false, true} {
			label := fmt.Sprintf("W5s %d", n)
			var cr *creator
			if creating {
				label += " +1 creation/s"
				if e.o.scaleReserve > 0 {
					label += fmt.Sprintf(" (role reserve %d)", e.o.scaleReserve)
				}
				cr = startCreator(ctx, reg, n)
			}
			load0 := loadAvg()
			before, err := statusCounts(ctx, maddr)
			if err != nil {
				stop()
				return lines, err
			}
			w3, w5, _, err := interleave(ctx, e, srv, n, " ("+label+" pair)", label)
			var made []time.Duration
			if cr != nil {
				made, err = cr.stop(err)
			}
			if err != nil {
				stop()
				return lines, err
			}
			m3, m5 := median(w3), median(w5)
			line := fmt.Sprintf("%s: %.0f req/s, p50 %.2f ms, p99 %.2f ms, max %.0f ms (worst run), non-2xx %d, errors %d; W5/W3 p99 %.3f, req/s %.3f (W3 same run: %.0f req/s, p99 %.2f ms, max %.0f ms); load %s → %s",
				label, m5.rps(), ms(m5.P50), ms(m5.P99), ms(maxLat(w5)), sumNon2xx(w5), sumErrors(w5), float64(m5.P99)/float64(m3.P99), m5.rps()/m3.rps(),
				m3.rps(), ms(m3.P99), ms(maxLat(w3)), load0, loadAvg())
			after, err := statusCounts(ctx, maddr)
			if err != nil {
				stop()
				return lines, err
			}
			line += "; W5 server non-2xx by status and route (warm-ups too; 499: wrk closed the connection at the end of a run): " + non2xx(before, after)
			if len(made) > 0 {
				slices.Sort(made)
				line += fmt.Sprintf("; %d creations, p50 %.1f ms, max %.1f ms", len(made), ms(made[len(made)/2].Microseconds()), ms(made[len(made)-1].Microseconds()))
			}
			logf("%s", line)
			lines = append(lines, line)
		}
		stop()
		// Again once the runs have warmed the cluster: a new pooled
		// connection in a server that has been up a while.
		if first, err = firstRequests(ctx, reg, shardURLs, n, 7); err != nil {
			return lines, err
		}
		first += " (warm cluster, after the runs)"
		logf("%s", first)
		lines = append(lines, first)
		// And after a CHECKPOINT: the runs leave the buffers full of
		// pages dirtied by hint bits, and a new backend that must evict
		// one to read a catalog page writes it out first.
		if err := checkpoint(ctx, e.cl.URL(pgcluster.Superuser, scaleDB)); err != nil {
			return lines, err
		}
		if first, err = firstRequests(ctx, reg, shardURLs, n, 7); err != nil {
			return lines, err
		}
		first += " (warm cluster, after the runs and a CHECKPOINT)"
		logf("%s", first)
		lines = append(lines, first)
	}
	return lines, nil
}

// checkpoint runs CHECKPOINT as superURL.
func checkpoint(ctx context.Context, superURL string) error {
	dc, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return err
	}
	defer dc.Close(context.Background())
	if _, err := dc.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("CHECKPOINT: %w", err)
	}
	return nil
}

// maxLat is the slowest request of rs.
func maxLat(rs []wrkResult) int64 {
	var m int64
	for _, r := range rs {
		m = max(m, r.Max)
	}
	return m
}

// hotelsHook seeds a tenant as W3's are.
func hotelsHook(slug string) condo.OnTenantCreatedFunc {
	return func(ctx context.Context, tx pgx.Tx, t *condo.Tenant) error {
		for _, q := range seedSQL(slug) {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, "UPDATE settings SET public_directory = true")
		return err
	}
}

// growTenants creates tenants t0001… through reg, 4 at a time, until the
// database holds all of t0001…t<n> (those W5's hosts name; creations during
// runs are named otherwise).
func growTenants(ctx context.Context, reg *condo.Registry, n int, prof *stmtProfile) error {
	// Which of t0001…t<n> exist, listed through the registry: a growth
	// that was stopped leaves holes (its 4 workers' creations in flight
	// fail while a later one may succeed), and a count or a bisection over
	// the slugs would take t20023 for proof of t20020…t20022. Each hole
	// is a host W5 asks for and gets 404 from, counted as non-2xx.
	missing, err := missingTenants(ctx, reg, n)
	if err != nil {
		return err
	}
	if len(missing) == 0 {
		logf("%s: %d tenants already", scaleDB, n)
		return nil
	}
	have := n - len(missing)
	// The missing ones that are not the run t<k>…t<n> at the end are holes.
	holes := len(missing)
	for holes > 0 && missing[holes-1] == n-(len(missing)-holes) {
		holes--
	}
	if holes > 0 {
		logf("%s: %d holes in t0001…t%04d (a stopped growth's), filled first: %v", scaleDB, holes, n, missing[:min(holes, 20)])
	}
	start := time.Now()
	logf("%s: growing from %d to %d tenants through the registry", scaleDB, have, n)
	jobs := make(chan int)
	errc := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range jobs {
				slug := fmt.Sprintf("t%04d", i)
				if _, err := reg.Create(ctx, condo.CreateParams{Slug: slug, Name: "Tenant " + slug,
					Domains: []string{slug + ".example.test"}, OnCreated: hotelsHook(slug)}); err != nil {
					errc <- fmt.Errorf("create %s: %w", slug, err)
					return
				}
			}
		})
	}
	lap := time.Now()
loop:
	for _, i := range missing {
		select {
		case jobs <- i:
		case err = <-errc:
			break loop
		}
		if prof != nil && (i == 1000 || i%10000 == 0) {
			if err = prof.snapshot(ctx, i); err != nil {
				break loop
			}
		}
		if i%5000 == 0 {
			logf("%s: %d tenants (%.0f s, last 5,000 at %.0f/s, load %s)", scaleDB, i, time.Since(start).Seconds(), 5000/time.Since(lap).Seconds(), loadAvg())
			lap = time.Now()
		}
	}
	close(jobs)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	logf("%s: %d → %d tenants in %.0f s", scaleDB, have, n, time.Since(start).Seconds())
	return err
}

// missingTenants returns, ascending, which of t0001…t<n> the registry
// does not hold, listing the tenants a page at a time.
func missingTenants(ctx context.Context, reg *condo.Registry, n int) ([]int, error) {
	have := make([]bool, n+1)
	p := condo.ListParams{Limit: 1000}
	for {
		page, err := reg.List(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, t := range page.Tenants {
			i, err := strconv.Atoi(strings.TrimPrefix(t.Slug, "t"))
			if err == nil && i >= 1 && i <= n && t.Slug == fmt.Sprintf("t%04d", i) {
				have[i] = true
			}
		}
		if page.Next == "" {
			break
		}
		p.After = page.Next
	}
	var missing []int
	for i := 1; i <= n; i++ {
		if !have[i] {
			missing = append(missing, i)
		}
	}
	return missing, nil
}

// vacuum runs VACUUM (ANALYZE) and CHECKPOINT as superURL, as W3's seeding
// does: background work after a bulk seed otherwise causes latency spikes.
func vacuum(ctx context.Context, superURL string) error {
	dc, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return err
	}
	defer dc.Close(context.Background())
	for _, q := range []string{"VACUUM (ANALYZE)", "CHECKPOINT"} {
		if _, err := dc.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// creator creates one tenant a second (c<size>_<i>, seeded as W3's) until
// stopped, and records how long each creation took.
type creator struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	took   []time.Duration
	err    error
}

func startCreator(ctx context.Context, reg *condo.Registry, size int) *creator {
	ctx, cancel := context.WithCancel(ctx)
	c := &creator{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		run := time.Now().Unix()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			slug := "c" + strconv.FormatInt(run, 36) + "-" + strconv.Itoa(i)
			start := time.Now()
			_, err := reg.Create(ctx, condo.CreateParams{Slug: slug, Name: "Created during W5 at " + strconv.Itoa(size), OnCreated: hotelsHook(slug)})
			if ctx.Err() != nil {
				return
			}
			c.mu.Lock()
			if err != nil {
				c.err = err
				c.mu.Unlock()
				return
			}
			c.took = append(c.took, time.Since(start))
			c.mu.Unlock()
		}
	}()
	return c
}

// stop stops c and returns its creation times, and err or c's error.
func (c *creator) stop(err error) ([]time.Duration, error) {
	c.cancel()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil && c.err != nil {
		err = fmt.Errorf("creating during the run: %w", c.err)
	}
	return c.took, err
}

// startReserve fills a tenant role reserve of size n (none when n is 0)
// and keeps it filled until the returned stop is called.
func startReserve(ctx context.Context, reg *condo.Registry, n int) (stop func(), err error) {
	if n == 0 {
		return func() {}, nil
	}
	rv := condo.NewRoleReserve(reg, &condo.RoleReserveConfig{Size: n})
	res, err := reg.ReserveRoles(ctx, n)
	if err != nil {
		return nil, err
	}
	logf("%s: role reserve of %d filled (%d made, %d dropped)", scaleDB, n, res.Made, res.Dropped)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rv.Run(rctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			logf("%s: role reserve: %v", scaleDB, err)
		}
	}, nil
}
