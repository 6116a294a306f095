package condotest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/condo-dev/condo/internal/pgcluster"
)

// Cluster is a PostgreSQL server of one test's own, which the test may shut
// down and start again (fault tests) without disturbing the shared test
// server. Make databases on it with [NewDatabaseInfo] and
// [DatabaseOpts].Cluster.
type Cluster struct {
	c   *pgcluster.Cluster
	url string
}

// ShutdownMode is how [Cluster.Shutdown] stops the server.
type ShutdownMode = pgcluster.ShutdownMode

// Shutdown modes (PostgreSQL's, see pg_ctl stop -m).
const (
	// ShutdownFast disconnects the clients (admin_shutdown), writes a
	// checkpoint and exits.
	ShutdownFast = pgcluster.Fast
	// ShutdownImmediate kills the server like a crash; the next start
	// replays the write-ahead log.
	ShutdownImmediate = pgcluster.Immediate
)

// NewCluster starts a private server for t (initdb and start, about a
// second) and stops and removes it when the test ends.
//
// Like the shared server it runs with fsync off, but with
// synchronous_commit on: a commit is acknowledged only once its WAL record
// is written to the operating system, so an immediate shutdown (a crash of
// PostgreSQL, not of the machine) loses no acknowledged commit, which is
// what fault tests check. With synchronous_commit off (the shared server's
// setting) a crash may lose the last few hundred milliseconds of commits:
// TestDatabaseRestartUnderLoad, run that way, found up to a third of its
// acknowledged writes missing after an immediate shutdown.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "condotest-cluster-")
	if err != nil {
		t.Fatalf("condotest: cluster dir: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Config{Dir: dir, Fast: true,
		Settings: map[string]string{"synchronous_commit": "on"}})
	if err != nil {
		_ = os.RemoveAll(dir)
		t.Fatalf("condotest: private PostgreSQL server: %v", err)
	}
	t.Cleanup(func() {
		c.Stop()
		_ = os.RemoveAll(dir)
	})
	return &Cluster{c: c, url: c.URL(pgcluster.Superuser, "postgres")}
}

// AdminURL is a superuser connection string of the cluster's maintenance
// database.
func (c *Cluster) AdminURL() string { return c.url }

// Port is the cluster's TCP port on 127.0.0.1; it stays the same across
// restarts.
func (c *Cluster) Port() int { return c.c.Port() }

// Shutdown stops the server in mode and returns once it has exited.
func (c *Cluster) Shutdown(mode ShutdownMode) { c.c.Shutdown(mode) }

// SetHBA sets the client authentication file (pg_hba.conf lines) the
// server reads from its next [Cluster.Restart] on, instead of trusting
// every local connection: e.g. scram-sha-256 for some roles, once the
// test's databases and roles exist.
func (c *Cluster) SetHBA(lines ...string) { c.c.SetHBA(lines) }

// Restart starts the server again after Shutdown and returns once it
// accepts connections. It fails t if the server does not come back.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.c.Restart(ctx); err != nil {
		t.Fatalf("condotest: restart PostgreSQL: %v", err)
	}
}
