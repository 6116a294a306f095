package condotest

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/internal/pgcluster"
)

// server is the process-wide test cluster. It is the one piece of package
// state here, as in river's DBPool: a test process has exactly one server,
// started lazily by whichever test needs it first and stopped by [Main].
var server struct {
	once    sync.Once
	url     string // superuser URL of the maintenance database
	cluster *pgcluster.Cluster
	dir     string
	err     error
}

// Main runs the tests and then stops the test cluster, if one was started.
// Call it from TestMain.
//
// When the tests pass, Main also checks for goroutine leaks, as river's
// WrapTestMain does: every goroutine started while the tests ran must end
// within 5 seconds after them, except a few long-lived ones of libraries
// (listed, with reasons, in leakAllowlist). Otherwise it prints their
// stacks and the run fails.
func Main(m *testing.M) {
	before := goroutineIDs()
	code := m.Run()
	// Stopped first: the goroutine waiting for the server process is ours.
	server.cluster.Stop()
	if server.dir != "" {
		_ = os.RemoveAll(server.dir)
	}
	if code == 0 {
		if report := checkLeaks(before, leakWait); report != "" {
			fmt.Fprint(os.Stderr, report)
			code = 1
		}
	}
	os.Exit(code)
}

// AdminURL returns a superuser connection string of the test server,
// starting the server when needed.
func AdminURL(t testing.TB) string {
	t.Helper()
	server.once.Do(func() {
		if u := os.Getenv("CONDO_TEST_DATABASE_URL"); u != "" {
			server.url = u
			return
		}
		dir, err := os.MkdirTemp("", "condotest-")
		if err != nil {
			server.err = err
			return
		}
		server.dir = dir
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// Tests trade durability for speed; benchmarks that must reflect
		// production set CONDO_TEST_DURABLE=1.
		fast := os.Getenv("CONDO_TEST_DURABLE") == ""
		c, err := pgcluster.Start(ctx, pgcluster.Config{Dir: dir, Fast: fast})
		if err != nil {
			server.err = err
			return
		}
		server.cluster = c
		server.url = c.URL(pgcluster.Superuser, "postgres")
	})
	if server.err != nil {
		t.Fatalf("condotest: test PostgreSQL server: %v", server.err)
	}
	return server.url
}

// Database is one test's database.
type Database struct {
	// Name is the database name.
	Name string
	// Role is the login role that owns the database.
	Role string
	// URL connects as Role.
	URL string
	// Pool is a pool connected as Role, with search_path set to ''.
	Pool *pgxpool.Pool
	// RuntimeRole, RuntimeURL and RuntimePool are set with
	// [DatabaseOpts.Runtime]: a login role that owns nothing, prepared
	// with [condo.GrantRuntime], for [condo.RegistryConfig.TenantPool];
	// its shared role ([condo.SharedRoleName]) has no table grants until
	// GrantRuntime runs again with [condo.GrantRuntimeOpts].Tables.
	RuntimeRole string
	RuntimeURL  string
	RuntimePool *pgxpool.Pool
}

// NewDatabase creates a database for this test, owned by a new login role
// with CREATEROLE, applies Condo's shared migrations, and returns a pool
// connected as that role. Everything is dropped when the test ends.
func NewDatabase(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return NewDatabaseInfo(t, nil).Pool
}

// DatabaseOpts tunes [NewDatabaseInfo]. A nil *DatabaseOpts is valid.
type DatabaseOpts struct {
	// MaxConns caps the pool. Defaults to 8.
	MaxConns int32
	// SkipMigrations leaves the database empty.
	SkipMigrations bool
	// Unhardened leaves set_config executable by PUBLIC, as in a database
	// nobody ran [condo.HardenSQL] on (to measure what that changes).
	// By default the database is hardened, as an operator would do it.
	Unhardened bool
	// Runtime also makes a runtime login role (split roles), NOINHERIT,
	// owning nothing, and a pool connected as it. It needs the shared
	// migrations.
	Runtime bool
	// Cluster, when set, makes the database on this private cluster (see
	// [NewCluster]) instead of the shared test server. It is not dropped
	// at the end: the whole cluster goes.
	Cluster *Cluster
}

// NewDatabaseInfo is [NewDatabase] returning names and URL too.
func NewDatabaseInfo(t testing.TB, opts *DatabaseOpts) *Database {
	t.Helper()
	if opts == nil {
		opts = &DatabaseOpts{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adminURL := ""
	if opts.Cluster != nil {
		adminURL = opts.Cluster.AdminURL()
	} else {
		adminURL = AdminURL(t)
	}
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatalf("condotest: connect as superuser: %v", err)
	}
	defer admin.Close(context.Background())

	var b [5]byte
	_, _ = rand.Read(b[:])
	name := "ct_" + hex.EncodeToString(b[:])
	stmts := []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN CREATEROLE", name),
		fmt.Sprintf("CREATE DATABASE %s OWNER %s TEMPLATE template0", name, name),
	}
	if opts.Runtime {
		// Named after the owner, so cleanup drops it; NOINHERIT so that
		// on PostgreSQL 15 too it holds tenant roles' rights only after
		// SET ROLE.
		stmts = append(stmts, fmt.Sprintf("CREATE ROLE %s_runtime LOGIN NOINHERIT", name))
	}
	for _, q := range stmts {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("condotest: %s: %v", q, err)
		}
	}
	// The application role gets the public schema's ownership in its
	// database so shared migrations can create tables there.
	cfgAdmin, _ := pgx.ParseConfig(adminURL)
	cfgAdmin.Database = name
	dbAdmin, err := pgx.ConnectConfig(ctx, cfgAdmin)
	if err != nil {
		t.Fatalf("condotest: connect to %s: %v", name, err)
	}
	_, err = dbAdmin.Exec(ctx, fmt.Sprintf("ALTER SCHEMA public OWNER TO %s", name))
	if err != nil {
		dbAdmin.Close(context.Background())
		t.Fatalf("condotest: own public schema: %v", err)
	}
	// What an operator does once per database as the superuser: tenant
	// roles lose set_config, so one injected statement can't leave them.
	if !opts.Unhardened {
		err = condo.Harden(ctx, dbAdmin, name)
	}
	dbAdmin.Close(context.Background())
	if err != nil {
		t.Fatalf("condotest: %v", err)
	}

	pool := newPool(ctx, t, adminURL, name, name, opts.MaxConns)
	t.Cleanup(func() {
		pool.Close()
		if opts.Cluster == nil {
			dropDatabase(t, name)
		}
	})
	db := &Database{Name: name, Role: name, URL: roleURL(t, adminURL, name, name), Pool: pool}
	if !opts.SkipMigrations {
		m, err := condomigrate.New(pool, &condomigrate.Config{Logger: Logger(t)})
		if err != nil {
			t.Fatalf("condotest: migrator: %v", err)
		}
		if _, err := m.MigrateShared(ctx, nil); err != nil {
			t.Fatalf("condotest: shared migrations: %v", err)
		}
	}
	if opts.Runtime {
		db.RuntimeRole = name + "_runtime"
		if _, err := condo.GrantRuntime(ctx, pool, db.RuntimeRole, nil); err != nil {
			t.Fatalf("condotest: %v", err)
		}
		db.RuntimeURL = roleURL(t, adminURL, db.RuntimeRole, name)
		db.RuntimePool = newPool(ctx, t, adminURL, db.RuntimeRole, name, opts.MaxConns)
		t.Cleanup(db.RuntimePool.Close) // runs before the database is dropped
	}
	return db
}

// newPool connects to database as role, with an empty search_path.
func newPool(ctx context.Context, t testing.TB, adminURL, role, database string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(adminURL)
	if err != nil {
		t.Fatalf("condotest: %v", err)
	}
	cfg.ConnConfig.User = role
	cfg.ConnConfig.Password = ""
	cfg.ConnConfig.Database = database
	cfg.MaxConns = cmp.Or(maxConns, 8)
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		// The tests stand for a managed database (RDS, Cloud SQL, Azure,
		// Supabase, Neon), where the application is never a superuser: a
		// superuser skips every privilege check, so a test passing as one
		// proves nothing about the walls between tenants. The server
		// reports the flag at connection start, so this costs no query.
		if su := c.PgConn().ParameterStatus("is_superuser"); su != "off" {
			return fmt.Errorf("condotest: test connection as %s has is_superuser=%q; tests must run as the database's own role", c.Config().User, su)
		}
		_, err := c.Exec(ctx, "SET search_path TO ''")
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("condotest: pool: %v", err)
	}
	return pool
}

func roleURL(t testing.TB, adminURL, role, database string) string {
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		t.Fatalf("condotest: %v", err)
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", role, cfg.Host, cfg.Port, database)
}

func dropDatabase(t testing.TB, name string) {
	// Generous: a benchmark may leave ten thousand tenant roles behind.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, server.url)
	if err != nil {
		t.Errorf("condotest: cleanup: %v", err)
		return
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
		t.Errorf("condotest: drop database %s: %v", name, err)
	}
	// Tenant roles made by the test's role are named after it; the role
	// itself goes last.
	rows, err := admin.Query(ctx, "SELECT rolname FROM pg_roles WHERE rolname LIKE $1 ORDER BY rolname = $2", name+"%", name)
	if err != nil {
		t.Errorf("condotest: list roles: %v", err)
		return
	}
	roles, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Errorf("condotest: list roles: %v", err)
		return
	}
	for chunk := range slices.Chunk(roles, 500) {
		quoted := make([]string, len(chunk))
		for i, r := range chunk {
			quoted[i] = pgx.Identifier{r}.Sanitize()
		}
		if _, err := admin.Exec(ctx, "DROP ROLE IF EXISTS "+strings.Join(quoted, ", ")); err != nil {
			t.Errorf("condotest: drop roles: %v", err)
			return
		}
	}
}

// Logger returns a logger that writes to t.Log at debug level when
// CONDO_TEST_DEBUG is set and at warn level otherwise.
func Logger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("CONDO_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
