package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/citus"
	"github.com/condo-dev/condo/internal/pgident"
)

// runW9 is W9 (WORKLOADS.md): W3 and W5 on a 3-node Citus cluster on this
// machine (a coordinator and two workers, schema-based sharding, tenants
// spread over both workers by Citus), interleaved with W3 on the single
// node, same run. The cluster is made afresh under the state directory and
// removed afterwards; its servers use tenant-affine pools of one
// connection (-partitions = -db-conns), as condostack does on Citus.
//
// W5 on Citus uses -w9-tenants (default 1,000), not W5's 10,000: on Citus
// every tenant role active within citus.max_cached_connection_lifetime
// holds a worker connection (BENCHMARKS.md, "Citus: tenant roles and
// worker connections"), so 10,000 tenants need about 5,000 connections
// per worker; and creating them on this cluster takes about 20 minutes.
func runW9(ctx context.Context, e *env) ([]string, error) {
	dir, err := os.MkdirTemp(e.o.out, "citus-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	conns := strconv.Itoa(max(2*e.o.w9+200, 300))
	cl, err := citus.Start(ctx, citus.Config{Dir: dir, Settings: map[string]string{"max_connections": conns}})
	if err != nil {
		return nil, fmt.Errorf("citus: %w", err)
	}
	defer cl.Stop()
	logf("citus: coordinator %s, workers %v, max_connections %s", cl.Coordinator(), cl.Workers(), conns)
	seedCitus := func(name string, n int) (string, error) {
		if err := citusExec(ctx, cl.URL(citus.Superuser, "postgres"), "CREATE ROLE "+pgident.Quote(name)+" LOGIN CREATEROLE"); err != nil {
			return "", err
		}
		if err := cl.CreateDatabase(ctx, name, name); err != nil {
			return "", err
		}
		url := cl.URL(name, name)
		return url, seedTenants(ctx, url, cl.URL(citus.Superuser, name), name, n, false, nil)
	}
	extra := []string{"-partitions", strconv.Itoa(e.o.dbConns)}
	var lines []string
	var w3c, w5c *server
	for _, w := range []struct {
		name    string
		tenants int
		srv     **server
	}{{"w9w3", 100, &w3c}, {"w9w5", e.o.w9, &w5c}} {
		url, err := seedCitus(w.name, w.tenants)
		if err != nil {
			return nil, fmt.Errorf("citus %s: %w", w.name, err)
		}
		if err := logPlacement(ctx, cl.URL(citus.Superuser, w.name)); err != nil {
			return nil, err
		}
		s, err := startServer(ctx, e.o, url, "tenant", w.name, extra...)
		if err != nil {
			return nil, err
		}
		defer s.stop()
		if err := checkSample(ctx, s.addr, w.tenants, e.o.sample); err != nil {
			return nil, fmt.Errorf("%s check: %w", w.name, err)
		}
		*w.srv = s
	}
	var single, c3, c5 []wrkResult
	for i := range e.o.runs {
		for _, x := range []struct {
			label   string
			s       *server
			tenants int
			out     *[]wrkResult
		}{{"W3 single node", e.w3srv, 100, &single}, {"W3 Citus", w3c, 100, &c3}, {"W5 Citus", w5c, e.o.w9, &c5}} {
			r, _, err := load(ctx, e.o, x.s, x.tenants, e.cl)
			if err != nil {
				return nil, err
			}
			*x.out = append(*x.out, r)
			logf("%s run %d: %s", x.label, i+1, r)
		}
	}
	m1, m3, m5 := median(single), median(c3), median(c5)
	// The p99 ratio run by run too: one noisy run moves a median's p99.
	var p99s []float64
	for i := range c5 {
		p99s = append(p99s, float64(c5[i].P99)/float64(c3[i].P99))
	}
	slices.Sort(p99s)
	lines = append(lines,
		fmt.Sprintf("W9  Citus, 3 nodes: W3 100 tenants %.0f req/s, p50 %.2f ms, p99 %.2f ms, non-2xx %d, errors %d; W5 %d tenants %.0f req/s, p50 %.2f ms, p99 %.2f ms, non-2xx %d, errors %d; W5/W3 p99 %.3f (per run %.2f, median %.3f), W5/W3 req/s %.3f (median of per-run ratios %.3f)",
			m3.rps(), ms(m3.P50), ms(m3.P99), sumNon2xx(c3), sumErrors(c3), e.o.w9, m5.rps(), ms(m5.P50), ms(m5.P99), sumNon2xx(c5), sumErrors(c5),
			float64(m5.P99)/float64(m3.P99), p99s, p99s[len(p99s)/2], m5.rps()/m3.rps(), medianRatio(c5, c3)),
		fmt.Sprintf("W9  single node in the same run: W3 %.0f req/s, p50 %.2f ms, p99 %.2f ms; Citus/single W3 req/s %.3f, p99 %.3f (median of %d runs each, interleaved)",
			m1.rps(), ms(m1.P50), ms(m1.P99), m3.rps()/m1.rps(), float64(m3.P99)/float64(m1.P99), e.o.runs))
	return lines, nil
}

// logPlacement logs how many tenant schemas each node holds.
func logPlacement(ctx context.Context, superURL string) error {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT nodename || ':' || nodeport || ' ' || count(DISTINCT colocation_id)
		FROM pg_catalog.citus_shards WHERE citus_table_type = 'schema' GROUP BY nodename, nodeport ORDER BY 1`)
	if err != nil {
		return fmt.Errorf("placement: %w", err)
	}
	per, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("placement: %w", err)
	}
	logf("citus placement (node tenants): %s", strings.Join(per, ", "))
	return nil
}

func citusExec(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}
