package condotest

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
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
	"github.com/condo-dev/condo/internal/pgident"
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

	// The migrated template test databases are copied from (see
	// template.go), made by the first test that needs it.
	tmplOnce sync.Once
	tmpl     string
	tmplErr  error
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
	dropTemplate()
	// Stopped first: the goroutine waiting for the server process is ours.
	server.cluster.Stop()
	if server.dir != "" {
		_ = os.RemoveAll(server.dir)
	}
	stopCitus()
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
	u, err := adminURL()
	if err != nil {
		t.Fatalf("condotest: test PostgreSQL server: %v", err)
	}
	return u
}

// adminURL is [AdminURL] returning its error.
func adminURL() (string, error) {
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
	return server.url, server.err
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
	// CreateDB gives the owner role CREATEDB, which the database tier
	// (condo.TierDatabase) needs on each server; a managed database's
	// application role usually has it. The tenant databases it makes
	// (named after the owner) are dropped with the test's database.
	CreateDB bool
	// Cluster, when set, makes the database on this private cluster (see
	// [NewCluster]) instead of the shared test server. It is not dropped
	// at the end: the whole cluster goes.
	Cluster *Cluster
}

// NewDatabaseInfo is [NewDatabase] returning names and URL too.
func NewDatabaseInfo(t testing.TB, opts *DatabaseOpts) *Database {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, cleanup, err := newDatabase(ctx, opts, Logger(t))
	// Registered before the error check: a half-made database goes too.
	t.Cleanup(func() {
		if err := cleanup(); err != nil {
			t.Errorf("condotest: cleanup: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("condotest: %v", err)
	}
	return db
}

// newDatabase is the one implementation behind [NewDatabaseInfo] and
// [ExampleDatabase], which differ only in how they fail and clean up.
// cleanup undoes what was made, also after an error.
func newDatabase(ctx context.Context, opts *DatabaseOpts, logger *slog.Logger) (db *Database, cleanup func() error, err error) {
	if opts == nil {
		opts = &DatabaseOpts{}
	}
	var undo []func() error
	cleanup = func() error {
		var errs []error
		for _, f := range slices.Backward(undo) {
			errs = append(errs, f())
		}
		return errors.Join(errs...)
	}
	closer := func(f func()) func() error { return func() error { f(); return nil } }
	admin := ""
	if opts.Cluster != nil {
		admin = opts.Cluster.AdminURL()
	} else if admin, err = adminURL(); err != nil {
		return nil, cleanup, fmt.Errorf("test PostgreSQL server: %w", err)
	}
	// Copying the migrated template saves running the shared migrations
	// on each database (see template.go). Only for the usual case: a
	// database of the shared server, migrated and hardened.
	tmpl := ""
	if opts.Cluster == nil && !opts.SkipMigrations && !opts.Unhardened {
		if tmpl, err = template(ctx, admin); err != nil {
			return nil, cleanup, err
		}
	}

	var b [5]byte
	_, _ = rand.Read(b[:])
	name := "ct_" + hex.EncodeToString(b[:])
	if opts.Cluster == nil {
		undo = append(undo, func() error { return drop(admin, name) })
	}
	err = pgcluster.CreateDatabase(ctx, admin, pgcluster.DatabaseParams{
		Name:          name,
		Template:      tmpl,
		TemplateOwner: tmpl, // the template's role is named after it
		Setup: func(ctx context.Context, conn *pgx.Conn) error {
			// What an operator does once per database as the superuser:
			// tenant roles lose set_config, so one injected statement
			// can't leave them.
			if opts.Unhardened {
				return nil
			}
			return condo.Harden(ctx, conn, name)
		},
	})
	if err != nil {
		return nil, cleanup, err
	}
	if opts.CreateDB {
		if err := exec(ctx, admin, "ALTER ROLE "+pgident.Quote(name)+" CREATEDB"); err != nil {
			return nil, cleanup, err
		}
	}
	pool, err := newPool(ctx, admin, name, name, opts.MaxConns)
	if err != nil {
		return nil, cleanup, err
	}
	undo = append(undo, closer(pool.Close)) // before the database is dropped
	db = &Database{Name: name, Role: name, URL: roleURL(admin, name, name), Pool: pool}
	if !opts.SkipMigrations && tmpl == "" {
		if err := migrateShared(ctx, pool, logger); err != nil {
			return nil, cleanup, err
		}
	}
	if opts.Runtime {
		// Named after the owner, so cleanup drops it; NOINHERIT so that
		// on PostgreSQL 15 too it holds tenant roles' rights only after
		// SET ROLE.
		db.RuntimeRole = name + "_runtime"
		if err := exec(ctx, admin, "CREATE ROLE "+pgident.Quote(db.RuntimeRole)+" LOGIN NOINHERIT"); err != nil {
			return nil, cleanup, err
		}
		if _, err := condo.GrantRuntime(ctx, pool, db.RuntimeRole, nil); err != nil {
			return nil, cleanup, err
		}
		db.RuntimeURL = roleURL(admin, db.RuntimeRole, name)
		if db.RuntimePool, err = newPool(ctx, admin, db.RuntimeRole, name, opts.MaxConns); err != nil {
			return nil, cleanup, err
		}
		undo = append(undo, closer(db.RuntimePool.Close))
	}
	return db, cleanup, nil
}

func migrateShared(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	m, err := condomigrate.New(pool, &condomigrate.Config{Logger: logger})
	if err != nil {
		return fmt.Errorf("migrator: %w", err)
	}
	if _, err := m.MigrateShared(ctx, nil); err != nil {
		return fmt.Errorf("shared migrations: %w", err)
	}
	return nil
}

// exec runs one statement as the superuser.
func exec(ctx context.Context, admin, sql string) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect as superuser: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// newPool connects to database as role, with an empty search_path.
func newPool(ctx context.Context, adminURL, role, database string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(adminURL)
	if err != nil {
		return nil, err
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
		return nil, fmt.Errorf("pool: %w", err)
	}
	return pool, nil
}

func roleURL(adminURL, role, database string) string {
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		// adminURL was parsed by newPool already.
		panic(err)
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", role, cfg.Host, cfg.Port, database)
}

// drop drops a test's database and roles.
func drop(admin, name string) error {
	// Generous: a benchmark may leave ten thousand tenant roles behind.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	return pgcluster.DropDatabase(ctx, admin, name)
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
