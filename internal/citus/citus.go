package citus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/condo-dev/condo/internal/pgcluster"
	"github.com/condo-dev/condo/internal/pgident"
)

// ErrNoCitus is returned by [Start] when no PostgreSQL with Citus installed
// is found.
var ErrNoCitus = errors.New("no PostgreSQL with Citus installed (citus.so in its library directory): build it with ../shared/citus/build.sh, or set CONDO_CITUS_PG_BIN to the server binaries of a PostgreSQL that has it")

// BinDirEnv names the environment variable that chooses the server binaries
// of the Citus cluster.
const BinDirEnv = "CONDO_CITUS_PG_BIN"

// Config says where to run the cluster. A nil *Config is valid.
type Config struct {
	// Dir holds the nodes' data directories (coordinator, worker1, …).
	// Required.
	Dir string
	// Workers is the number of workers. Defaults to 2.
	Workers int
	// Settings are extra postgresql.conf settings for every node.
	Settings map[string]string
}

// Cluster is a running Citus cluster.
type Cluster struct {
	coord   *pgcluster.Cluster
	workers []*pgcluster.Cluster
}

// FindBinDir returns the server binaries of a PostgreSQL with Citus
// installed: $CONDO_CITUS_PG_BIN, else Debian's newest
// /usr/lib/postgresql/<version>/bin whose lib directory holds citus.so.
func FindBinDir() (string, error) {
	if dir := os.Getenv(BinDirEnv); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err != nil {
			return "", fmt.Errorf("%s: %w", BinDirEnv, err)
		}
		return dir, nil
	}
	libs, _ := filepath.Glob("/usr/lib/postgresql/*/lib/citus.so")
	best, bestV := "", -1
	for _, l := range libs {
		root := filepath.Dir(filepath.Dir(l))
		v, err := strconv.Atoi(filepath.Base(root))
		if err == nil && v > bestV {
			best, bestV = filepath.Join(root, "bin"), v
		}
	}
	if best == "" {
		return "", ErrNoCitus
	}
	return best, nil
}

// Start starts the coordinator and the workers (in parallel: each is an
// initdb and a start) and registers the workers with the coordinator's
// maintenance database, so that roles made there reach every node.
func Start(ctx context.Context, cfg Config) (_ *Cluster, err error) {
	bin, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	n := cfg.Workers
	if n == 0 {
		n = 2
	}
	settings := map[string]string{
		"shared_preload_libraries": "citus",
		// Online moves (citus_schema_move's default mode) use logical
		// replication between nodes.
		"wal_level":                          "logical",
		"max_replication_slots":              "20",
		"max_wal_senders":                    "20",
		"citus.enable_schema_based_sharding": "on",
		// Fast turns fsync off, and synchronous commit with it; commits
		// stay synchronous here, as in production: an online move
		// switches over at the old node's written WAL
		// (pg_current_wal_lsn()), and a commit acknowledged before its WAL
		// was written is lost there (TestCitusMove saw it).
		"synchronous_commit": "on",
		// Tests make and drop many databases; the maintenance daemon of
		// each would otherwise keep connections to dropped ones.
		"citus.enable_statistics_collection": "off",
		// Loopback only. Citus's default (sslmode=require) also makes
		// libpq, in the server running as another user, read the
		// caller's ~/.postgresql when HOME is inherited.
		"citus.node_conninfo": "sslmode=disable",
		// Citus runs a maintenance daemon per database, as a background
		// worker; tests make many databases.
		"max_worker_processes": "64",
	}
	for k, v := range cfg.Settings {
		settings[k] = v
	}
	// The nodes' directories are handed to the user PostgreSQL runs as
	// (when we are root), who must be able to enter their parent.
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("citus dir: %w", err)
	}
	if err := os.Chmod(cfg.Dir, 0o711); err != nil {
		return nil, fmt.Errorf("citus dir: %w", err)
	}
	names := []string{"coordinator"}
	for i := range n {
		names = append(names, "worker"+strconv.Itoa(i+1))
	}
	nodes := make([]*pgcluster.Cluster, len(names))
	errs := make([]error, len(names))
	done := make(chan int)
	for i, name := range names {
		go func() {
			nodes[i], errs[i] = pgcluster.Start(ctx, pgcluster.Config{
				Dir: filepath.Join(cfg.Dir, name), Fast: true, BinDir: bin, Settings: settings})
			done <- i
		}()
	}
	for range names {
		<-done
	}
	c := &Cluster{coord: nodes[0], workers: nodes[1:]}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("start citus nodes: %w", err)
	}
	if err := c.setUp(ctx, "postgres"); err != nil {
		return nil, err
	}
	return c, nil
}

// Stop stops every node and waits for them to exit.
func (c *Cluster) Stop() {
	if c == nil {
		return
	}
	for _, n := range slices.Concat([]*pgcluster.Cluster{c.coord}, c.workers) {
		if n != nil {
			n.Stop()
		}
	}
}

// Superuser is the name of the nodes' bootstrap superuser.
const Superuser = pgcluster.Superuser

// URL returns a connection string of the coordinator, where applications
// connect, for database db as user.
func (c *Cluster) URL(user, db string) string { return c.coord.URL(user, db) }

// Node is a node's address, as Citus names it (citus_schema_move's
// arguments, pg_dist_node's nodename and nodeport).
type Node struct {
	Host string
	Port int
}

func (n Node) String() string { return n.Host + ":" + strconv.Itoa(n.Port) }

// Coordinator is the coordinator's address.
func (c *Cluster) Coordinator() Node { return Node{"127.0.0.1", c.coord.Port()} }

// Workers are the workers' addresses.
func (c *Cluster) Workers() []Node {
	out := make([]Node, len(c.workers))
	for i, w := range c.workers {
		out[i] = Node{"127.0.0.1", w.Port()}
	}
	return out
}

// WorkerURL returns a connection string of worker i (from 0) for database db
// as user, to look behind the coordinator's back in tests.
func (c *Cluster) WorkerURL(i int, user, db string) string { return c.workers[i].URL(user, db) }

// CreateDatabase creates database name owned by owner on every node, with
// the citus extension in each and the workers registered with the
// coordinator's copy. owner must exist (make it on the coordinator's
// maintenance database: Citus creates it on the workers too).
//
// The owner's own one-time set-up on Citus is done by condomigrate's
// MigrateShared (condomigrate.CitusOwnerSetUpSQL).
func (c *Cluster) CreateDatabase(ctx context.Context, name, owner string) error {
	if err := pgident.Validate("database", name); err != nil {
		return err
	}
	if err := pgident.Validate("role", owner); err != nil {
		return err
	}
	q := "CREATE DATABASE " + pgident.Quote(name) + " OWNER " + pgident.Quote(owner) + " TEMPLATE template0"
	for _, n := range slices.Concat([]*pgcluster.Cluster{c.coord}, c.workers) {
		if err := execAll(ctx, n.URL(Superuser, "postgres"), q); err != nil {
			return err
		}
		// Every node's public schema: reference tables made by the owner
		// are created there on the workers too.
		if err := execAll(ctx, n.URL(Superuser, name), "CREATE EXTENSION IF NOT EXISTS citus",
			"ALTER SCHEMA public OWNER TO "+pgident.Quote(owner)); err != nil {
			return err
		}
	}
	return c.setUp(ctx, name)
}

// DropDatabase drops database name on every node.
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	if err := pgident.Validate("database", name); err != nil {
		return err
	}
	var errs []error
	for _, n := range slices.Concat([]*pgcluster.Cluster{c.coord}, c.workers) {
		errs = append(errs, execAll(ctx, n.URL(Superuser, "postgres"), "DROP DATABASE IF EXISTS "+pgident.Quote(name)+" WITH (FORCE)"))
	}
	return errors.Join(errs...)
}

// setUp installs Citus in database db of the coordinator and registers the
// workers there.
func (c *Cluster) setUp(ctx context.Context, db string) error {
	for _, n := range c.workers {
		if err := execAll(ctx, n.URL(Superuser, db), "CREATE EXTENSION IF NOT EXISTS citus"); err != nil {
			return err
		}
	}
	if err := execAll(ctx, c.coord.URL(Superuser, db), "CREATE EXTENSION IF NOT EXISTS citus",
		fmt.Sprintf("SELECT citus_set_coordinator_host('127.0.0.1', %d)", c.coord.Port())); err != nil {
		return err
	}
	for _, w := range c.workers {
		if err := addNode(ctx, c.coord.URL(Superuser, db), w.Port()); err != nil {
			return err
		}
	}
	return nil
}

// addNode registers the worker on port with the coordinator. citus_add_node
// connects to the worker, and under a loaded test run (several test
// processes, each with its own cluster, making databases at once) that
// connection has failed now and then ("failure on connection marked as
// essential", SQLSTATE XX000); adding a node that is already there returns
// its id, so the call is retried a few times before the error is returned.
func addNode(ctx context.Context, url string, port int) error {
	q := fmt.Sprintf("SELECT citus_add_node('127.0.0.1', %d)", port)
	var err error
	for attempt := range 6 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
		var pgErr *pgconn.PgError
		if err = execAll(ctx, url, q); err == nil || !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.InternalError {
			return err
		}
	}
	return err
}

func execAll(ctx context.Context, url string, stmts ...string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("citus: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("citus: %s: %w", s, err)
		}
	}
	return nil
}
