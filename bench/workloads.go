package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/condo-dev/condo/internal/pgbouncer"
	"github.com/condo-dev/condo/internal/pgcluster"
)

// workload is one name on the command line: what it measures, and the
// report lines it prints once every run is over.
type workload struct {
	name string
	// run measures on the bench cluster, seeded with W3's 100 tenants and
	// with a checked W3 server up.
	run func(ctx context.Context, e *env) ([]string, error)
	// alone, when set instead of run, starts clusters of its own.
	alone func(ctx context.Context, o options) error
}

// workloads is the command line's table (WORKLOADS.md numbers them).
// W4 is measured during W3; "all" is W6 (with W3 interleaved) and W5.
func workloads() []workload {
	return []workload{
		{name: "all", run: runAll},
		{name: "w3", run: runW3},
		{name: "w4", run: runW3},
		{name: "w5", run: runW5},
		{name: "w5scale", run: runW5Scale},
		{name: "w6", run: runW6},
		{name: "w7", run: runW7},
		{name: "w8", run: runW8},
		{name: "w9", run: runW9},
		{name: "ceiling", run: runCeiling},
		{name: "versions", alone: runVersions},
		{name: "w1p", alone: runW1p},
		{name: "w3tier", run: runW3Tier},
		{name: "w1tier", alone: runW1Tier},
	}
}

// env is what every workload shares: the bench cluster, W3's database and
// its server.
type env struct {
	o     options
	cl    *pgcluster.Cluster
	admin string // superuser URL of the maintenance database
	w3URL string
	w3srv *server
}

// w3Lines are the W3 and W4 report lines for W3 runs whose database peak
// was pgPeak.
func (e *env) w3Lines(w3 []wrkResult, pgPeak pgMem) []string {
	m := median(w3)
	return []string{
		fmt.Sprintf("W3  100 tenants: %.0f req/s, p50 %.2f ms, p99 %.2f ms, non-2xx %d, errors %d (median of %d; %d responses checked, 0 wrong-tenant rows)",
			m.rps(), ms(m.P50), ms(m.P99), sumNon2xx(w3), sumErrors(w3), len(w3), e.o.sample),
		fmt.Sprintf("W4  server peak RSS %.1f MiB; PostgreSQL backends peak RSS %.0f MiB (PSS %.0f MiB, %d processes)",
			float64(e.w3srv.peakRSS())/(1<<20), float64(pgPeak.rss)/(1<<20), float64(pgPeak.pss)/(1<<20), pgPeak.procs),
	}
}

func runAll(ctx context.Context, e *env) ([]string, error) {
	lines, err := runW6(ctx, e)
	if err != nil {
		return nil, err
	}
	w5, err := runW5(ctx, e)
	return append(lines, w5...), err
}

// runW3 is W3, and W4 measured during it.
func runW3(ctx context.Context, e *env) ([]string, error) {
	var w3 []wrkResult
	var pgPeak pgMem
	for i := range e.o.runs {
		r, mem, err := load(ctx, e.o, e.w3srv, 100, e.cl)
		if err != nil {
			return nil, err
		}
		pgPeak = pgPeak.max(mem)
		w3 = append(w3, r)
		logf("W3 run %d: %s", i+1, r)
	}
	return e.w3Lines(w3, pgPeak), nil
}

// runW6 is W6 interleaved with W3 (reported too, with W4), and pgbench
// on the same SELECT.
func runW6(ctx context.Context, e *env) ([]string, error) {
	w6srv, err := startServer(ctx, e.o, e.w3URL, "plain", "w6")
	if err != nil {
		return nil, err
	}
	w3, w6, mem, err := interleave(ctx, e, w6srv, 100, "", "W6")
	w6srv.stop()
	if err != nil {
		return nil, err
	}
	pgb, err := pgbench(ctx, e.o, e.w3URL)
	if err != nil {
		return nil, err
	}
	m3, m6 := median(w3), median(w6)
	return append(e.w3Lines(w3, mem),
		fmt.Sprintf("W6  no tenancy: %.0f req/s, p50 %.2f ms, p99 %.2f ms; W3/W6 req/s %.3f (median of per-run ratios %.3f); W3 vs pgbench -S-style %.0f tps: %.2f",
			m6.rps(), ms(m6.P50), ms(m6.P99), m3.rps()/m6.rps(), medianRatio(w3[len(w3)-len(w6):], w6), pgb, m3.rps()/pgb)), nil
}

// runW7 is W3 over HTTPS with a self-signed wildcard certificate,
// interleaved with W3 over HTTP.
func runW7(ctx context.Context, e *env) ([]string, error) {
	cert, key, err := wildcardCert(e.o.out, "example.test")
	if err != nil {
		return nil, err
	}
	w7srv, err := startServer(ctx, e.o, e.w3URL, "tenant", "w7", "-tls-cert", cert, "-tls-key", key)
	if err != nil {
		return nil, err
	}
	w3c, w7, _, err := interleave(ctx, e, w7srv, 100, " (W7 pair)", "W7 (HTTPS)")
	w7srv.stop()
	if err != nil {
		return nil, err
	}
	m3, m7 := median(w3c), median(w7)
	return []string{fmt.Sprintf("W7  W3 over HTTPS (TLS 1.3, keep-alive): %.0f req/s, p50 %.2f ms, p99 %.2f ms, non-2xx %d, errors %d; HTTPS/HTTP req/s %.3f (median of per-run ratios %.3f; W3 in the same run: %.0f req/s)",
		m7.rps(), ms(m7.P50), ms(m7.P99), sumNon2xx(w7), sumErrors(w7), m7.rps()/m3.rps(), medianRatio(w7, w3c), m3.rps())}, nil
}

// runW8 is W3 through PgBouncer in transaction mode with 16 server
// connections, the server's pool (db-conns) in front of it and the direct
// URL for the resolver's LISTEN, interleaved with W3 direct. PgBouncer
// reaches PostgreSQL over TCP, or with -pgbouncer-socket (as when it runs
// on the database's host) over the Unix socket.
func runW8(ctx context.Context, e *env) ([]string, error) {
	serverHost := "127.0.0.1"
	if e.o.pbSocket {
		serverHost = filepath.Join(e.o.out, "pg")
	}
	pb, err := pgbouncer.Start(ctx, pgbouncer.Config{
		Dir: filepath.Join(e.o.out, "pgbouncer"), ServerHost: serverHost, ServerPort: e.cl.Port(),
		PoolMode: "transaction", PoolSize: 16, Users: []string{"w3"},
	})
	if err != nil {
		return nil, err
	}
	defer pb.Stop()
	w8srv, err := startServer(ctx, e.o, pb.URL("w3", "w3"), "tenant", "w8", "-pooler", "transaction", "-direct", e.o.dbURL(e.w3URL))
	if err != nil {
		return nil, err
	}
	defer w8srv.stop()
	w8srv.pooler = pb.Pid()
	if err := checkSample(ctx, w8srv.addr, 100, e.o.sample); err != nil {
		return nil, fmt.Errorf("W8 check: %w", err)
	}
	w3d, w8, _, err := interleave(ctx, e, w8srv, 100, " (W8 pair)", "W8 (PgBouncer)")
	if err != nil {
		return nil, err
	}
	m3, m8 := median(w3d), median(w8)
	return []string{fmt.Sprintf("W8  W3 through PgBouncer 1.18 (transaction mode, pool 16): %.0f req/s, p50 %.2f ms, p99 %.2f ms, non-2xx %d, errors %d; PgBouncer/direct req/s %.3f (median of per-run ratios %.3f; W3 direct in the same run: %.0f req/s, p99 %.2f ms)",
		m8.rps(), ms(m8.P50), ms(m8.P99), sumNon2xx(w8), sumErrors(w8), m8.rps()/m3.rps(), medianRatio(w8, w3d), m3.rps(), ms(m3.P99))}, nil
}

// runCeiling measures the edge without a database ("static") and a bare
// net/http server ("bare"), and pgbench.
func runCeiling(ctx context.Context, e *env) ([]string, error) {
	var ceiling []string
	var ceilRPS []float64
	for _, mode := range []string{"bare", "static"} {
		s, err := startServer(ctx, e.o, e.w3URL, mode, mode)
		if err != nil {
			return nil, err
		}
		var rs []wrkResult
		for i := range e.o.runs {
			r, _, err := load(ctx, e.o, s, 100, e.cl)
			if err != nil {
				s.stop()
				return nil, err
			}
			rs = append(rs, r)
			logf("%s run %d: %s", mode, i+1, r)
		}
		s.stop()
		m := median(rs)
		ceiling = append(ceiling, fmt.Sprintf("%s %.0f req/s (p50 %.2f ms)", mode, m.rps(), ms(m.P50)))
		ceilRPS = append(ceilRPS, m.rps())
	}
	pgb, err := pgbench(ctx, e.o, e.w3URL)
	if err != nil {
		return nil, err
	}
	// Each request needs both the HTTP work and the database's; on shared
	// cores their costs add up.
	return []string{fmt.Sprintf("CEIL  %s; pgbench %.0f tps; HTTP edge and database together at most %.0f req/s",
		strings.Join(ceiling, ", "), pgb, 1/(1/ceilRPS[1]+1/pgb))}, nil
}

// runW5 is W5 (o.w5 tenants, seeded once) interleaved with W3.
func runW5(ctx context.Context, e *env) ([]string, error) {
	w5URL, err := seed(ctx, e.admin, e.cl, "w5", e.o.w5)
	if err != nil {
		return nil, err
	}
	w5srv, err := startServer(ctx, e.o, w5URL, "tenant", "w5")
	if err != nil {
		return nil, err
	}
	defer w5srv.stop()
	if err := checkSample(ctx, w5srv.addr, e.o.w5, e.o.sample); err != nil {
		return nil, fmt.Errorf("W5 check: %w", err)
	}
	w3b, w5, _, err := interleave(ctx, e, w5srv, e.o.w5, " (W5 pair)", "W5")
	if err != nil {
		return nil, err
	}
	logf("W5 server peak RSS: %.1f MiB", float64(w5srv.peakRSS())/(1<<20))
	m3, m5 := median(w3b), median(w5)
	return []string{fmt.Sprintf("W5  %d tenants: %.0f req/s, p50 %.2f ms, p99 %.2f ms, non-2xx %d; W5/W3 p99 %.3f, W5/W3 req/s %.3f (W3 in the same run: %.0f req/s, p99 %.2f ms)",
		e.o.w5, m5.rps(), ms(m5.P50), ms(m5.P99), sumNon2xx(w5), float64(m5.P99)/float64(m3.P99), m5.rps()/m3.rps(), m3.rps(), ms(m3.P99))}, nil
}

// interleave runs W3 and another server's workload alternately, o.runs
// times each, so that their ratio is measured in the same run. mem is the
// database's peak during the W3 runs.
func interleave(ctx context.Context, e *env, other *server, tenants int, w3Label, otherLabel string) (w3, rs []wrkResult, mem pgMem, err error) {
	for i := range e.o.runs {
		r, m, err := load(ctx, e.o, e.w3srv, 100, e.cl)
		if err != nil {
			return nil, nil, mem, err
		}
		mem = mem.max(m)
		w3 = append(w3, r)
		logf("W3 run %d%s: %s", i+1, w3Label, r)
		if r, _, err = load(ctx, e.o, other, tenants, e.cl); err != nil {
			return nil, nil, mem, err
		}
		rs = append(rs, r)
		logf("%s run %d: %s", otherLabel, i+1, r)
	}
	return w3, rs, mem, nil
}
