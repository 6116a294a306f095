package main

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condojobs"
	"github.com/condo-dev/condo/condostack"
	"github.com/condo-dev/condo/condotest"
	"github.com/condo-dev/condo/examples/hotels/migrations"
)

// TestServeBehindPgBouncer is the set-up: the reference app's
// serve, as a process, with DATABASE_URL through a real PgBouncer in
// pool_mode = transaction (8 server connections for serve's 20) and the
// direct URL beside it. 100 tenants, 16 clients on random tenant hosts.
// Three phases, each bounded in time: no faults (no error allowed), every
// backend of the database terminated five times, once per 2,000 requests
// (at most 1% errors; the rate is logged), then none (the same server answers again, without
// a restart: no error once 100 requests in a row have succeeded). Every
// 200 holds only its tenant's hotels.
func TestServeBehindPgBouncer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := condotest.NewDatabaseInfo(t, nil)
	bouncer := condotest.NewPgBouncer(t, db, &condotest.PgBouncerOpts{PoolSize: 8})
	env, err := condostack.Open(ctx, &condostack.Config{
		DatabaseURL: bouncer.URL, DirectDatabaseURL: db.URL, PoolSize: 8,
		SharedMigrations: migrations.Shared(), TenantMigrations: migrations.Tenant(), Logger: condotest.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	if env.Pooler.Mode != condo.PoolerTransaction {
		t.Fatalf("pooler: got %s, want transaction", env.Pooler)
	}
	if _, err := env.Migrator.MigrateShared(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// serve works background jobs: River's tables, as migrate installs them.
	if _, err := condojobs.Migrate(ctx, env.Direct, condotest.Logger(t)); err != nil {
		t.Fatal(err)
	}
	slugs := createLoadTenants(ctx, t, env.Registry, "pb", 100, 1)

	addr, _ := startServe(t, bouncer.URL, db.URL)
	load := newHotelLoad(t, addr, slugs)
	calm := load.phase(ctx, 0, 3*time.Second, 100_000, never)
	t.Logf("no faults: %d ok, %d failed", calm.ok, calm.failed)
	if calm.failed > 0 || calm.ok == 0 {
		t.Fatalf("no faults: %d failed (first: %s), %d ok", calm.failed, calm.first, calm.ok)
	}

	// Every backend of the database (PgBouncer's server connections, the
	// listener's direct one) is terminated once per killEvery requests,
	// five times: tied to requests rather than to the clock, so the rate
	// measures Condo and not how busy the machine is.
	const kills, killEvery = 5, 2000
	admin, err := pgx.Connect(ctx, condotest.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var rounds, killed atomic.Int64
	var killer sync.WaitGroup
	killer.Go(func() {
		next := load.progress.Load() + killEvery/2
		for rounds.Load() < kills && ctx.Err() == nil {
			if load.progress.Load() < next {
				time.Sleep(5 * time.Millisecond) // polls a counter, bounded by the phase
				continue
			}
			next = load.progress.Load() + killEvery
			var n int64
			err := admin.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'`, db.Name).Scan(&n)
			if err != nil {
				t.Errorf("terminate backends: %v", err)
				rounds.Store(kills)
				return
			}
			killed.Add(n)
			rounds.Add(1)
		}
	})
	chaos := load.phase(ctx, 0, 60*time.Second, 100_000, func() bool { return rounds.Load() >= kills })
	rounds.Store(kills)
	killer.Wait()
	total := chaos.ok + chaos.failed
	rate := float64(chaos.failed) / float64(max(total, 1))
	t.Logf("backends terminated %d times: %d backends killed, %d requests, %d failed (%.2f%%), first: %s",
		kills, killed.Load(), total, chaos.failed, 100*rate, chaos.first)
	if killed.Load() == 0 {
		t.Fatal("no backend was terminated")
	}
	if rate > 0.01 {
		t.Errorf("error rate while killing: %.2f%%, want at most 1%%", 100*rate)
	}

	// Recovery, same process: requests right after the last kill may
	// still meet a server connection PgBouncer has not yet seen die, so
	// wait for 100 successes in a row; after that, every request succeeds.
	r := rand.New(rand.NewPCG(1, 2))
	streak := 0
	condotest.WaitFor(t, 15*time.Second, "100 successes in a row after the kills", func() bool {
		if ok, _ := load.getRandom(r, len(slugs)); ok {
			streak++
		} else {
			streak = 0
		}
		return streak >= 100
	})
	after := load.phase(ctx, 0, 2*time.Second, 2000, never)
	t.Logf("after: %d ok, %d failed", after.ok, after.failed)
	if after.failed > 0 || after.ok == 0 {
		t.Errorf("after the kills: %d failed (first: %s), %d ok", after.failed, after.first, after.ok)
	}
	if load.wrong.Load() > 0 {
		t.Errorf("%d wrong-tenant answers", load.wrong.Load())
	}
}

// startServe runs "hotels serve" (this test binary running main) with
// DATABASE_URL and CONDO_DIRECT_DATABASE_URL, and env (NAME=value) on top,
// on a loopback port, and returns its address and its output (which grows
// as serve logs). It is stopped with SIGTERM when the test ends.
func startServe(t *testing.T, url, directURL string, env ...string) (string, *condotest.Buffer) {
	t.Helper()
	out := &condotest.Buffer{}
	cmd := exec.Command(os.Args[0], "serve", "--http", "127.0.0.1:0", "--base-domain", "localhost", "--no-access-log")
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "DATABASE_URL="+url, "CONDO_DIRECT_DATABASE_URL="+directURL, "CONDO_POOLER=")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("serve output:\n%s", out.String())
		}
	})
	re := regexp.MustCompile(`msg=listening listener=http addr=(\S+)`)
	var addr string
	condotest.WaitFor(t, 30*time.Second, "serve to listen", func() bool {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve exited: %v\n%s", err, out.String())
		default:
		}
		if m := re.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	return addr, out
}
