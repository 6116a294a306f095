package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/pgcluster"
)

// checkSample fetches n responses for random tenants and checks that every
// hotel belongs to the Host's tenant.
func checkSample(ctx context.Context, addr string, tenants, n int) error {
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range n {
		slug := fmt.Sprintf("t%04d", 1+rand.IntN(tenants))
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/hotels/", nil)
		req.Host = slug + ".example.test"
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		var hotels []struct {
			ID    int64  `json:"id"`
			Name  string `json:"name"`
			City  string `json:"city"`
			Stars int    `json:"stars"`
		}
		err = json.NewDecoder(resp.Body).Decode(&hotels)
		resp.Body.Close()
		if resp.StatusCode != 200 || err != nil {
			return fmt.Errorf("response %d for %s: status %d, %v", i, slug, resp.StatusCode, err)
		}
		if len(hotels) != 10 {
			return fmt.Errorf("response %d for %s: %d hotels, want 10", i, slug, len(hotels))
		}
		for _, h := range hotels {
			if !strings.HasPrefix(h.Name, slug+" ") {
				return fmt.Errorf("response %d for %s: WRONG TENANT hotel %q", i, slug, h.Name)
			}
		}
	}
	logf("checked %d responses across %d tenants: 0 wrong-tenant rows", n, tenants)
	return nil
}

// pgbench measures the database's own throughput for W6's SELECT at the
// same concurrency, prepared, over TCP on loopback like the server.
func pgbench(ctx context.Context, o options, dbURL string) (float64, error) {
	bin, err := pgcluster.FindBinDir()
	if err != nil {
		return 0, err
	}
	exe := filepath.Join(bin, "pgbench")
	if _, err := os.Stat(exe); err != nil {
		if exe, err = exec.LookPath("pgbench"); err != nil {
			return 0, errors.New("pgbench not found")
		}
	}
	script := filepath.Join(o.out, "w6.sql")
	if err := os.WriteFile(script, []byte("SELECT id, name, city, stars FROM single.hotel ORDER BY id;\n"), 0o644); err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, exe, "-n", "-M", "prepared", "-c", strconv.Itoa(o.conns), "-j", strconv.Itoa(o.threads),
		"-T", strconv.Itoa(int(o.duration.Seconds())), "-f", script, o.dbURL(dbURL))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench: %w: %s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		if rest, ok := strings.CutPrefix(line, "tps = "); ok {
			f := strings.Fields(rest)
			tps, err := strconv.ParseFloat(f[0], 64)
			if err == nil {
				logf("pgbench (same SELECT, -c %d -j %d, prepared): %.0f tps", o.conns, o.threads, tps)
				return tps, nil
			}
		}
	}
	return 0, fmt.Errorf("pgbench output: %s", out)
}

func pgVersion(ctx context.Context, url string) string {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return "PostgreSQL ?"
	}
	defer c.Close(ctx)
	var v string
	_ = c.QueryRow(ctx, "SHOW server_version").Scan(&v)
	return "PostgreSQL " + v
}

// prewarm requests every tenant t0001…t<tenants> once through the server at
// addr, 16 at a time, so that the runs after it meet the caches a server
// that has been up for a while has (each runtime backend has seen its
// share of tenants, PostgreSQL's buffers hold their pages), not the first
// minute's. It returns how long that took and the slowest request.
func prewarm(ctx context.Context, addr string, tenants int) (time.Duration, time.Duration, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	jobs := make(chan int)
	errc := make(chan error, 16)
	var mu sync.Mutex
	var slowest time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for range 16 {
		wg.Go(func() {
			for i := range jobs {
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/hotels/", nil)
				req.Host = fmt.Sprintf("t%04d.example.test", i)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errc <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errc <- fmt.Errorf("prewarm t%04d: status %d", i, resp.StatusCode)
					return
				}
				d := time.Since(t0)
				mu.Lock()
				slowest = max(slowest, d)
				mu.Unlock()
			}
		})
	}
	var err error
loop:
	for i := 1; i <= tenants; i++ {
		select {
		case jobs <- i:
		case err = <-errc:
			break loop
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
	return time.Since(start), slowest, err
}
