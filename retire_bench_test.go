package condo_test

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condotest"
)

// BenchmarkCreateLongLivedConn asks whether tenant creation slows down on
// a long-lived owner connection (issue 15): a backend keeps catalog and
// relation cache entries, and the bench's w5scale growth ran faster after
// a restart. Two registries, each on its own pool and database, create
// CONDO_RETIRE_N tenants each (default 3000, the hotel migrations) with
// CONDO_RETIRE_WORKERS creators at a time (default 1, one connection),
// taking turns so that the machine's load weighs on both alike:
// "long-lived" keeps its connections, "retired" closes them (pool Reset)
// each time its backends have made 200 tenants each. It reports the mean
// creation time of each per block of 500, its backends' CPU time per
// creation and the largest private memory (RssAnon), read from /proc
// (the test cluster is local): those depend less on the load. Run it on
// 15 and 18 with:
//
//	go test -run '^$' -bench CreateLongLivedConn -benchtime 1x -timeout 1h -v .
//	CONDO_PG_BIN=/opt/condo/pg18/native/bin go test …
func BenchmarkCreateLongLivedConn(b *testing.B) {
	n := envInts(b, "CONDO_RETIRE_N", "3000")[0]
	workers := envInts(b, "CONDO_RETIRE_WORKERS", "1")[0]
	const block = 500
	const retireEvery = 200
	for b.Loop() {
		long := newEnv(b, nil, &condotest.DatabaseOpts{MaxConns: int32(workers)})
		retired := newEnv(b, nil, &condotest.DatabaseOpts{MaxConns: int32(workers)})
		variants := []struct {
			name string
			e    *env
			sum  time.Duration
			pids map[uint32]bool
			cpu  backendCPU
		}{{name: "long-lived", e: long}, {name: "retired", e: retired}}
		ctx := b.Context()
		for i := 1; i <= n; i += workers {
			for k := range variants {
				v := &variants[k]
				var wg sync.WaitGroup
				durs := make([]time.Duration, min(workers, n-i+1))
				errs := make([]error, len(durs))
				for w := range durs {
					wg.Go(func() {
						slug := fmt.Sprintf("r%06d", i+w)
						t0 := time.Now()
						_, errs[w] = v.e.reg.Create(ctx, condo.CreateParams{Slug: slug, Name: slug, Domains: []string{slug + ".example.test"}})
						durs[w] = time.Since(t0)
					})
				}
				wg.Wait()
				if err := errors.Join(errs...); err != nil {
					b.Fatal(err)
				}
				for _, d := range durs {
					v.sum += d
				}
			}
			// Retire: every backend has made about retireEvery tenants.
			if last := min(i+workers-1, n); last%(retireEvery*workers) < workers {
				variants[1].cpu.sample(b, retired) // before its backends go
				retired.pool.Reset()
			}
			last := min(i+workers-1, n)
			if last%block >= workers && last != n {
				continue
			}
			size := (last-1)%block + 1
			for k := range variants {
				v := &variants[k]
				pids := backends(b, v.e)
				if v.pids == nil {
					v.pids = map[uint32]bool{}
				}
				for _, pid := range pids {
					v.pids[pid] = true
				}
				mean := float64(v.sum.Microseconds()) / 1000 / float64(size)
				b.Logf("%s: tenants %d-%d: mean %.1f ms per creation, %d backends so far, load %.1f", v.name, last-size+1, last, mean, len(v.pids), loadAvg())
				b.ReportMetric(mean, fmt.Sprintf("%s-block%d-ms", v.name, (last-1)/block+1))
				v.sum = 0
			}
			for k := range variants {
				v := &variants[k]
				if !v.cpu.sample(b, v.e) {
					continue
				}
				perCreate := float64(v.cpu.ticks) * 10 / float64(size) // 100 ticks a second
				b.Logf("%s backends: %.1f ms CPU per creation, RssAnon %d MB (the largest now)", v.name, perCreate, v.cpu.rss/1024)
				b.ReportMetric(perCreate, fmt.Sprintf("%s-block%d-cpu-ms", v.name, (last-1)/block+1))
				b.ReportMetric(float64(v.cpu.rss/1024), fmt.Sprintf("%s-block%d-rss-mb", v.name, (last-1)/block+1))
				v.cpu.ticks = 0
			}
		}
	}
}

// backendCPU adds up the CPU time of a pool's backends, which come and
// go, between two reports.
type backendCPU struct {
	seen  map[uint32]int64 // ticks of each backend at its last sample
	ticks int64            // since the last report
	rss   int64            // the largest RssAnon at the last sample, kB
	bad   bool             // /proc could not be read
}

// sample adds what e's backends used since they were last sampled; false
// when /proc can't tell.
func (c *backendCPU) sample(b *testing.B, e *env) bool {
	if c.seen == nil {
		c.seen = map[uint32]int64{}
	}
	c.rss = 0
	for _, pid := range backends(b, e) {
		cpu, rss, ok := backendStat(pid)
		if !ok {
			c.bad = true
			continue
		}
		c.ticks += cpu - c.seen[pid]
		c.seen[pid] = cpu
		c.rss = max(c.rss, rss)
	}
	return !c.bad
}

// backends returns the pids of the backends of e's database (its pool's
// own: the database is the benchmark's).
func backends(b *testing.B, e *env) []uint32 {
	b.Helper()
	rows, _ := e.pool.Query(b.Context(), "SELECT pid::int8 FROM pg_stat_activity WHERE datname = current_database()")
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		b.Fatal(err)
	}
	out := make([]uint32, len(pids))
	for k, p := range pids {
		out[k] = uint32(p)
	}
	return out
}

// backendStat reads a local backend's CPU time (user + system, in clock
// ticks) and private resident memory (RssAnon, kB) from /proc; ok is
// false when it can't (a remote server, or another OS).
func backendStat(pid uint32) (cpu, rssKB int64, ok bool) {
	dir := "/proc/" + strconv.FormatUint(uint64(pid), 10)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The fields after the command name (which may hold spaces): utime
	// and stime are the 14th and 15th of the line, 12th and 13th here.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(f) < 13 {
		return 0, 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	status, err3 := os.ReadFile(dir + "/status")
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, false
	}
	for line := range strings.Lines(string(status)) {
		if v, found := strings.CutPrefix(line, "RssAnon:"); found {
			rssKB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return ut + st, rssKB, true
}
