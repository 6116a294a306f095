package condotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/internal/citus"
	"github.com/condo-dev/condo/internal/pgident"
)

// citusServer is the process-wide Citus cluster, started by the first test
// that asks for one (most test processes never do) and stopped by [Main].
var citusServer struct {
	once    sync.Once
	cluster *citus.Cluster
	dir     string
	err     error
}

// CitusCluster is the test process's Citus cluster: a coordinator and two
// workers on loopback (see internal/citus).
type CitusCluster struct{ c *citus.Cluster }

// Citus returns the test process's Citus cluster, starting it on first use
// (three initdb runs and starts, a few seconds). Without Citus installed it
// skips the test, or fails it when CONDO_REQUIRE_TOOLS is set (as in CI,
// which builds Citus from ../shared/citus).
func Citus(t testing.TB) *CitusCluster {
	t.Helper()
	citusServer.once.Do(func() {
		dir, err := os.MkdirTemp("", "condotest-citus-")
		if err != nil {
			citusServer.err = err
			return
		}
		citusServer.dir = dir
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		citusServer.cluster, citusServer.err = citus.Start(ctx, citus.Config{Dir: dir})
	})
	if err := citusServer.err; err != nil {
		if errors.Is(err, citus.ErrNoCitus) && os.Getenv("CONDO_REQUIRE_TOOLS") == "" {
			t.Skipf("condotest: %v (set CONDO_REQUIRE_TOOLS=1 to fail instead)", err)
		}
		t.Fatalf("condotest: Citus cluster: %v", err)
	}
	return &CitusCluster{c: citusServer.cluster}
}

// stopCitus stops the Citus cluster, if a test started one.
func stopCitus() {
	citusServer.cluster.Stop()
	if citusServer.dir != "" {
		_ = os.RemoveAll(citusServer.dir)
	}
}

// AdminURL is a superuser connection string of the coordinator's database db.
func (c *CitusCluster) AdminURL(db string) string { return c.c.URL(citus.Superuser, db) }

// Coordinator is the coordinator's address.
func (c *CitusCluster) Coordinator() citus.Node { return c.c.Coordinator() }

// Workers are the workers' addresses.
func (c *CitusCluster) Workers() []citus.Node { return c.c.Workers() }

// WorkerURL connects to worker i's copy of database db as user.
func (c *CitusCluster) WorkerURL(i int, user, db string) string { return c.c.WorkerURL(i, user, db) }

// NewCitusDatabase is [NewDatabaseInfo] on the Citus cluster: a database on
// every node, owned by a fresh login role with CREATEROLE that is not a
// superuser, with the citus extension and the workers registered, Condo's
// shared migrations applied unless opts.SkipMigrations (which also do the
// owner's one-time set-up on Citus, condomigrate.CitusOwnerSetUpSQL), and a
// pool on the
// coordinator as the owner with an empty search_path. Only opts.MaxConns
// and opts.SkipMigrations apply. Everything is dropped when the test ends.
func NewCitusDatabase(t testing.TB, opts *DatabaseOpts) *Database {
	t.Helper()
	if opts == nil {
		opts = &DatabaseOpts{}
	}
	cc := Citus(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b [5]byte
	_, _ = rand.Read(b[:])
	name := "cc_" + hex.EncodeToString(b[:])
	// Made on the coordinator's maintenance database, where Citus
	// propagates roles to the workers.
	if err := citusExec(ctx, cc.AdminURL("postgres"), "CREATE ROLE "+pgident.Quote(name)+" LOGIN CREATEROLE"); err != nil {
		t.Fatalf("condotest: %v", err)
	}
	if err := cc.c.CreateDatabase(ctx, name, name); err != nil {
		t.Fatalf("condotest: %v", err)
	}
	pool, err := newPool(ctx, cc.AdminURL("postgres"), name, name, opts.MaxConns)
	if err != nil {
		t.Fatalf("condotest: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := cc.c.DropDatabase(ctx, name); err != nil {
			t.Errorf("condotest: %v", err)
			return
		}
		dropRolesLike(ctx, t, cc.AdminURL("postgres"), name)
	})
	db := &Database{Name: name, Role: name, URL: roleURL(cc.AdminURL("postgres"), name, name), Pool: pool}
	if !opts.SkipMigrations {
		m, err := condomigrate.New(pool, &condomigrate.Config{Logger: Logger(t)})
		if err != nil {
			t.Fatalf("condotest: migrator: %v", err)
		}
		if _, err := m.MigrateShared(ctx, nil); err != nil {
			t.Fatalf("condotest: shared migrations on Citus: %v", err)
		}
	}
	return db
}

// dropRolesLike drops the roles named after prefix (the test's owner and
// its tenant roles) through the coordinator's maintenance database, so
// Citus drops them on the workers too.
func dropRolesLike(ctx context.Context, t testing.TB, adminURL, prefix string) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Errorf("condotest: cleanup: %v", err)
		return
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT rolname FROM pg_roles WHERE rolname LIKE $1 ORDER BY rolname = $2", prefix+"%", prefix)
	if err != nil {
		t.Errorf("condotest: list roles: %v", err)
		return
	}
	roles, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Errorf("condotest: list roles: %v", err)
		return
	}
	for _, r := range roles {
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgident.Quote(r)); err != nil {
			t.Errorf("condotest: drop role %s: %v", r, err)
		}
	}
}

func citusExec(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}
