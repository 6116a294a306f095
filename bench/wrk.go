package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/condo-dev/condo/internal/pgcluster"
)

// wrkResult is one wrk run, as the Lua script's done() prints it on a
// line starting "WRK ".
type wrkResult struct {
	Requests   int64   `json:"requests"`
	DurationUS int64   `json:"duration_us"`
	ErrConnect int64   `json:"err_connect"`
	ErrRead    int64   `json:"err_read"`
	ErrWrite   int64   `json:"err_write"`
	ErrStatus  int64   `json:"err_status"`
	ErrTimeout int64   `json:"err_timeout"`
	P50        int64   `json:"lat_p50_us"`
	P90        int64   `json:"lat_p90_us"`
	P99        int64   `json:"lat_p99_us"`
	Mean       float64 `json:"lat_mean_us"`
	Max        int64   `json:"lat_max_us"`

	// CPU per request of the server process and of PostgreSQL during the
	// run (set by load): steadier than req/s when other work shares the
	// cores.
	serverUS, pgUS float64
}

func (r wrkResult) rps() float64 { return float64(r.Requests) / (float64(r.DurationUS) / 1e6) }
func (r wrkResult) errors() int64 {
	return r.ErrConnect + r.ErrRead + r.ErrWrite + r.ErrTimeout
}
func (r wrkResult) String() string {
	return fmt.Sprintf("%.0f req/s, p50 %.2f ms, p99 %.2f ms, max %.1f ms, non-2xx %d, errors %d",
		r.rps(), ms(r.P50), ms(r.P99), ms(r.Max), r.ErrStatus, r.errors())
}

func ms(us int64) float64 { return float64(us) / 1000 }

// load runs a warm-up and then one measured wrk run against s, sampling
// PostgreSQL's memory meanwhile.
func load(ctx context.Context, o options, s *server, tenants int, cl *pgcluster.Cluster) (wrkResult, pgMem, error) {
	if o.warmup > 0 {
		if _, err := wrk(ctx, o, s.scheme+"://"+s.addr, tenants, o.warmup); err != nil {
			return wrkResult{}, pgMem{}, err
		}
	}
	var peak pgMem
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				peak = peak.max(postgresMem(filepath.Join(o.out, "pg"), false))
			}
		}
	})
	if s.pprof != "" {
		s.runs++
		path := filepath.Join(o.out, fmt.Sprintf("%s-cpu-%d.pprof", s.name, s.runs))
		wg.Go(func() {
			resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.pprof, max(int(o.duration.Seconds())-2, 1)))
			if err != nil {
				logf("profile: %v", err)
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(path)
			if err == nil {
				_, _ = io.Copy(f, resp.Body)
				f.Close()
			}
		})
	}
	before := cpuTimes(s.cmd.Process.Pid, s.pooler, filepath.Join(o.out, "pg"))
	r, err := wrk(ctx, o, s.scheme+"://"+s.addr, tenants, o.duration)
	after := cpuTimes(s.cmd.Process.Pid, s.pooler, filepath.Join(o.out, "pg"))
	close(stop)
	wg.Wait()
	// PSS (smaps_rollup) walks every page table of every backend: ~10 % of
	// the CPU when sampled during W5, so it is read once, after the run,
	// when the backends' memory is still at its peak (it is not given back).
	end := postgresMem(filepath.Join(o.out, "pg"), true)
	peak = peak.max(end)
	peak.pss = end.pss
	reqs := float64(r.Requests)
	r.serverUS = (after.server - before.server) / reqs * 1e6
	pgCPU := after.postgresSince(before)
	r.pgUS = pgCPU / reqs * 1e6
	pooler := ""
	if s.pooler != 0 {
		pooler = fmt.Sprintf("pgbouncer %.1f s (%.0f µs/request), ", after.pooler-before.pooler, (after.pooler-before.pooler)/reqs*1e6)
	}
	logf("CPU during the run: server %.1f s (%.0f µs/request), postgres %.1f s (%.0f µs/request), %swrk and everything else %.1f s, of %.0f s",
		after.server-before.server, (after.server-before.server)/reqs*1e6, pgCPU, r.pgUS,
		pooler, after.total-before.total-(after.server-before.server)-pgCPU-(after.pooler-before.pooler),
		o.duration.Seconds()*float64(runtime.NumCPU()))
	return r, peak, err
}

func wrk(ctx context.Context, o options, base string, tenants int, d time.Duration) (wrkResult, error) {
	cmd := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(o.conns),
		"-d", fmt.Sprintf("%ds", int(d.Seconds())), "-s", o.lua, base, "--", strconv.Itoa(tenants))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	if f, err := os.OpenFile(filepath.Join(o.out, "wrk.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
		fmt.Fprintf(f, "== %s %s %d tenants\n%s\n", time.Now().Format(time.TimeOnly), base, tenants, out)
		f.Close()
	}
	for line := range strings.Lines(string(out)) {
		if rest, ok := strings.CutPrefix(line, "WRK "); ok {
			var r wrkResult
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				return wrkResult{}, fmt.Errorf("wrk output: %w", err)
			}
			return r, nil
		}
	}
	return wrkResult{}, fmt.Errorf("wrk printed no WRK line: %s", out)
}

func median(rs []wrkResult) wrkResult {
	s := slices.Clone(rs)
	sort.Slice(s, func(i, j int) bool { return s[i].rps() < s[j].rps() })
	m := s[len(s)/2]
	p99 := make([]int64, len(rs))
	p50 := make([]int64, len(rs))
	for i, r := range rs {
		p99[i], p50[i] = r.P99, r.P50
	}
	slices.Sort(p99)
	slices.Sort(p50)
	m.P99, m.P50 = p99[len(p99)/2], p50[len(p50)/2]
	return m
}

func medianRatio(a, b []wrkResult) float64 {
	var rs []float64
	for i := range min(len(a), len(b)) {
		rs = append(rs, a[i].rps()/b[i].rps())
	}
	slices.Sort(rs)
	return rs[len(rs)/2]
}

func sumNon2xx(rs []wrkResult) (n int64) {
	for _, r := range rs {
		n += r.ErrStatus
	}
	return n
}

func sumErrors(rs []wrkResult) (n int64) {
	for _, r := range rs {
		n += r.errors()
	}
	return n
}
