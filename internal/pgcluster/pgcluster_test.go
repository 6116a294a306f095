package pgcluster_test

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/pgcluster"
)

// A second Start on a directory whose server is alive must refuse (and
// leave the running server alone); once it stops, the pid file it may
// leave behind is stale and Start proceeds.
func TestStartRefusesRunningCluster(t *testing.T) {
	t.Parallel()
	if _, err := pgcluster.FindBinDir(); err != nil {
		if os.Getenv("CONDO_REQUIRE_TOOLS") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	// Not t.TempDir: its parent is private, and PostgreSQL runs as another
	// user when the tests run as root.
	dir, err := os.MkdirTemp("", "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	c, err := pgcluster.Start(t.Context(), pgcluster.Config{Dir: dir, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	pid, port, err := pgcluster.Running(dir)
	if err != nil || pid == 0 || port != c.Port() {
		t.Fatalf("Running = %d, %d, %v; want a pid and port %d", pid, port, err, c.Port())
	}
	_, err = pgcluster.Start(t.Context(), pgcluster.Config{Dir: dir, Fast: true})
	var re *pgcluster.RunningError
	if !errors.Is(err, pgcluster.ErrAlreadyRunning) || !errors.As(err, &re) || re.PID != pid {
		t.Fatalf("second Start: got %v, want already running, pid %d", err, pid)
	}
	if pid2, _, _ := pgcluster.Running(dir); pid2 != pid {
		t.Fatalf("the running server was disturbed: pid %d, want %d", pid2, pid)
	}
	c.Stop()
	if pid, _, _ := pgcluster.Running(dir); pid != 0 {
		t.Fatalf("Running after Stop: pid %d, want 0", pid)
	}
	// A stale pid file (a crash) naming a dead process does not block Start.
	stale := "999999\n" + filepath.Join(dir, "data") + "\n0\n1\n"
	if err := os.WriteFile(filepath.Join(dir, "data", "postmaster.pid"), []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = pgcluster.Start(t.Context(), pgcluster.Config{Dir: dir, Fast: true})
	if err != nil {
		t.Fatalf("Start over a stale pid file: %v", err)
	}
	c.Stop()
}

// The server that runs is the one in $CONDO_PG_BIN (or Config.BinDir), not
// whatever PATH or Debian offers: CI runs the suite once per version and a
// run meant for 18 must not quietly pass on 15.
func TestStartRunsTheChosenBinaries(t *testing.T) {
	t.Parallel()
	bin, err := pgcluster.FindBinDir()
	if err != nil {
		if os.Getenv("CONDO_REQUIRE_TOOLS") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	out, err := exec.Command(filepath.Join(bin, "postgres"), "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	// "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)": the major
	// version is the third field's part before the first dot.
	fields := strings.Fields(string(out))
	if len(fields) < 3 {
		t.Fatalf("postgres --version: %q", out)
	}
	wantMajor, _, _ := strings.Cut(fields[2], ".")
	dir, err := os.MkdirTemp("", "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	c, err := pgcluster.Start(t.Context(), pgcluster.Config{Dir: dir, Fast: true, BinDir: bin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	conn, err := pgx.Connect(t.Context(), c.URL(pgcluster.Superuser, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var num int
	if err := conn.QueryRow(t.Context(), "SELECT current_setting('server_version_num')::int").Scan(&num); err != nil {
		t.Fatal(err)
	}
	if got := strconv.Itoa(num / 10000); got != wantMajor {
		t.Fatalf("server version %d, want major %s (from %s)", num, wantMajor, bin)
	}
	t.Logf("PostgreSQL %d from %s", num, bin)
}

// A bin directory that lacks the binaries is an error, never a fall back to
// another installation.
func TestBinDirMustHoldTheBinaries(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	notExec := t.TempDir()
	for _, name := range []string{"initdb", "postgres"} {
		if err := os.WriteFile(filepath.Join(notExec, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, dir := range map[string]string{"missing": filepath.Join(empty, "nope"), "empty": empty, "not executable": notExec} {
		t.Run(name, func(t *testing.T) {
			_, err := pgcluster.Start(t.Context(), pgcluster.Config{Dir: t.TempDir(), BinDir: dir})
			if !errors.Is(err, pgcluster.ErrNoPostgres) {
				t.Fatalf("Start with BinDir %s: got %v, want ErrNoPostgres", dir, err)
			}
		})
	}
}

// Shutdown, in either mode, stops the server for good (nothing of it is
// left running), and Restart brings a new one up on the same data
// directory and port, ready for connections.
func TestShutdownRestart(t *testing.T) {
	t.Parallel()
	if _, err := pgcluster.FindBinDir(); err != nil {
		if os.Getenv("CONDO_REQUIRE_TOOLS") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir, err := os.MkdirTemp("", "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	c, err := pgcluster.Start(t.Context(), pgcluster.Config{Dir: dir, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	if err := c.Restart(t.Context()); err == nil {
		t.Fatal("Restart of a running server: got no error")
	}
	for _, tc := range []struct {
		name string
		mode pgcluster.ShutdownMode
	}{{"fast", pgcluster.Fast}, {"immediate", pgcluster.Immediate}} {
		pid, _, _ := pgcluster.Running(dir)
		c.Shutdown(tc.mode)
		if p, _, _ := pgcluster.Running(dir); p != 0 {
			t.Fatalf("%s: Running after Shutdown: pid %d, want 0", tc.name, p)
		}
		if err := c.Restart(t.Context()); err != nil {
			t.Fatalf("%s: Restart: %v", tc.name, err)
		}
		p, port, err := pgcluster.Running(dir)
		if err != nil || p == 0 || p == pid || port != c.Port() {
			t.Fatalf("%s: Running after Restart = %d, %d, %v; want a new pid (not %d) on port %d", tc.name, p, port, err, pid, c.Port())
		}
	}
}

// A port that is taken: with the port chosen by the caller, Start fails
// and says why (the server's own log line); with Port 0 it would pick
// another and start again, which is what keeps parallel test processes
// from failing when one takes the port another was about to bind.
func TestStartOnATakenPort(t *testing.T) {
	t.Parallel()
	if _, err := pgcluster.FindBinDir(); err != nil {
		if os.Getenv("CONDO_REQUIRE_TOOLS") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir, err := os.MkdirTemp("", "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	port := ln.Addr().(*net.TCPAddr).Port
	if c, err := pgcluster.Start(t.Context(), pgcluster.Config{Dir: dir, Fast: true, Port: port}); err == nil || !strings.Contains(err.Error(), "Address already in use") {
		c.Stop()
		t.Fatalf("Start on taken port %d: got %v, want the server's bind error", port, err)
	}
	c, err := pgcluster.Start(t.Context(), pgcluster.Config{Dir: dir, Fast: true})
	if err != nil {
		t.Fatalf("Start on a free port after a failed one: %v", err)
	}
	c.Stop()
}
