package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/condo-dev/condo/internal/pgcluster"
)

// pgSide is one PostgreSQL version in the "versions" workload: its own
// cluster (from its own bin directory, in its own state directory), seeded
// alike, with a W3 and a W6 server on it.
type pgSide struct {
	label   string // "PostgreSQL 18.4"
	o       options
	cl      *pgcluster.Cluster
	w3, w6  *server
	r3, r6  []wrkResult
	version string
}

// runVersions measures W3 and W6 on each PostgreSQL of o.pgBins (e.g. 15
// and 18) in the same run: one cluster per version, all up at once, and
// the runs interleaved (W3 then W6 on each version in turn, the order of
// the versions alternating from run to run) so that drift on the shared
// machine falls on all of them alike. Only one load runs at a time.
func runVersions(ctx context.Context, o options) error {
	if len(o.pgBins) < 2 {
		return errors.New("versions needs two or more bin directories: go run ./bench versions -pg-bin /usr/lib/postgresql/15/bin,/opt/condo/pg18/native/bin")
	}
	var sides []*pgSide
	defer func() {
		for _, s := range sides {
			for _, srv := range []*server{s.w3, s.w6} {
				if srv != nil {
					srv.stop()
				}
			}
			s.cl.Stop()
		}
	}()
	for _, bin := range o.pgBins {
		out, err := exec.CommandContext(ctx, filepath.Join(bin, "postgres"), "--version").Output()
		if err != nil {
			return fmt.Errorf("%s: %w", bin, err)
		}
		// "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
		f := strings.Fields(string(out))
		if len(f) < 3 {
			return fmt.Errorf("%s: postgres --version printed %q", bin, out)
		}
		s := &pgSide{version: f[2], o: o}
		s.label = "PostgreSQL " + s.version
		major, _, _ := strings.Cut(s.version, ".")
		s.o.out = filepath.Join(o.out, "pg"+major)
		s.o.pgBins = []string{bin}
		if err := os.MkdirAll(s.o.out, 0o755); err != nil {
			return err
		}
		s.cl, err = pgcluster.Start(ctx, pgcluster.Config{Dir: filepath.Join(s.o.out, "pg"), Fast: true, Settings: o.pgSettings, BinDir: bin})
		if err != nil {
			return fmt.Errorf("%s: %w", s.label, err)
		}
		sides = append(sides, s)
		url, err := seed(ctx, s.cl.URL(pgcluster.Superuser, "postgres"), s.cl, "w3", 100)
		if err != nil {
			return fmt.Errorf("%s: %w", s.label, err)
		}
		if s.w3, err = startServer(ctx, s.o, url, "tenant", "w3"); err != nil {
			return fmt.Errorf("%s: %w", s.label, err)
		}
		if s.w6, err = startServer(ctx, s.o, url, "plain", "w6"); err != nil {
			return fmt.Errorf("%s: %w", s.label, err)
		}
		if err := checkSample(ctx, s.w3.addr, 100, o.sample); err != nil {
			return fmt.Errorf("%s: W3 check: %w", s.label, err)
		}
		logf("%s from %s: %s", s.label, bin, pgVersion(ctx, s.cl.URL(pgcluster.Superuser, "postgres")))
	}
	for i := range o.runs {
		order := sides
		if i%2 == 1 {
			order = reversed(sides)
		}
		for _, s := range order {
			r, _, err := load(ctx, s.o, s.w3, 100, s.cl)
			if err != nil {
				return err
			}
			s.r3 = append(s.r3, r)
			logf("%s W3 run %d: %s", s.label, i+1, r)
			if r, _, err = load(ctx, s.o, s.w6, 100, s.cl); err != nil {
				return err
			}
			s.r6 = append(s.r6, r)
			logf("%s W6 run %d: %s", s.label, i+1, r)
		}
	}
	fmt.Println()
	first := median(sides[0].r3)
	for _, s := range sides {
		m3, m6 := median(s.r3), median(s.r6)
		fmt.Printf("%s: W3 %.0f req/s (p50 %.2f ms, p99 %.2f ms, non-2xx %d, errors %d), W6 %.0f req/s (p99 %.2f ms); W3/W6 %.3f (median of per-run ratios %.3f); W3 against %s's: %.3f\n",
			s.label, m3.rps(), ms(m3.P50), ms(m3.P99), sumNon2xx(s.r3), sumErrors(s.r3), m6.rps(), ms(m6.P99),
			m3.rps()/m6.rps(), medianRatio(s.r3, s.r6), sides[0].label, m3.rps()/first.rps())
		sv3, pg3 := cpuPerRequest(s.r3)
		sv6, pg6 := cpuPerRequest(s.r6)
		fmt.Printf("%s: CPU per request (medians) W3 server %.0f µs + postgres %.0f µs, W6 server %.0f µs + postgres %.0f µs; W6/W3 of the total %.3f\n",
			s.label, sv3, pg3, sv6, pg6, (sv6+pg6)/(sv3+pg3))
	}
	return nil
}

// cpuPerRequest returns the medians of the runs' server and PostgreSQL CPU
// per request, in µs.
func cpuPerRequest(rs []wrkResult) (server, pg float64) {
	sv := make([]float64, len(rs))
	p := make([]float64, len(rs))
	for i, r := range rs {
		sv[i], p[i] = r.serverUS, r.pgUS
	}
	slices.Sort(sv)
	slices.Sort(p)
	return sv[len(sv)/2], p[len(p)/2]
}

func reversed[T any](s []T) []T {
	r := make([]T, len(s))
	for i, v := range s {
		r[len(s)-1-i] = v
	}
	return r
}
