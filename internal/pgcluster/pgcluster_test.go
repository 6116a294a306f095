package pgcluster_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

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
