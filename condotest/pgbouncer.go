package condotest

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/internal/pgbouncer"
)

// PgBouncerOpts tunes [NewPgBouncer]. A nil *PgBouncerOpts is valid.
type PgBouncerOpts struct {
	// PoolMode is PgBouncer's pool_mode. Defaults to "transaction".
	PoolMode string
	// PoolSize is default_pool_size: server connections per user and
	// database. Defaults to 4.
	PoolSize int
	// Users may connect besides the database's role (PgBouncer's trust
	// authentication still wants every user listed).
	Users []string
}

// PgBouncer is a PgBouncer running in front of the test server, for one
// test, on a loopback port.
type PgBouncer struct {
	// Port is PgBouncer's port on 127.0.0.1.
	Port int
	// URL connects as the database's role to the database through
	// PgBouncer.
	URL string
	db  *Database
}

// URLFor returns a URL that connects as user to the test's database
// through PgBouncer.
func (b *PgBouncer) URLFor(user string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", user, b.Port, b.db.Name)
}

// Pool returns a pool of at most maxConns (default 8) connections through
// PgBouncer as the database's role, set up for a transaction pooler by
// [condo.ConfigurePool] (no named prepared statements), closed when the
// test ends. Unlike [Database].Pool it sets no search_path on connect: a
// session-level SET would stay on whichever server connection it ran on.
func (b *PgBouncer) Pool(t testing.TB, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(b.URL)
	if err != nil {
		t.Fatalf("condotest: pgbouncer pool: %v", err)
	}
	cfg.MaxConns = cmp.Or(maxConns, 8)
	condo.ConfigurePool(cfg, condo.PoolerTransaction)
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatalf("condotest: pgbouncer pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// NewPgBouncer starts PgBouncer (Debian's pgbouncer package) in front of
// the test server for db, with trust authentication, a small pool and
// pool_mode = transaction unless opts say otherwise. When run as root it
// runs as the same unprivileged user as the test server. It is stopped
// when the test ends. The test is skipped when pgbouncer is not installed,
// and fails then when CONDO_REQUIRE_TOOLS is set.
func NewPgBouncer(t testing.TB, db *Database, opts *PgBouncerOpts) *PgBouncer {
	t.Helper()
	if opts == nil {
		opts = &PgBouncerOpts{}
	}
	if pgbouncer.Binary() == "" {
		if os.Getenv("CONDO_REQUIRE_TOOLS") != "" {
			t.Fatal("condotest: pgbouncer not found (CONDO_REQUIRE_TOOLS is set); install Debian's pgbouncer package")
		}
		t.Skip("condotest: pgbouncer not found; install Debian's pgbouncer package or set CONDO_REQUIRE_TOOLS=1 to fail")
	}
	server, err := pgx.ParseConfig(AdminURL(t))
	if err != nil {
		t.Fatalf("condotest: %v", err)
	}
	dir, err := os.MkdirTemp("", "condotest-pgbouncer-")
	if err != nil {
		t.Fatalf("condotest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pb, err := pgbouncer.Start(ctx, pgbouncer.Config{
		Dir:        dir,
		ServerHost: server.Host,
		ServerPort: int(server.Port),
		PoolMode:   opts.PoolMode,
		PoolSize:   opts.PoolSize,
		Users:      append([]string{db.Role, server.User}, opts.Users...),
	})
	if err != nil {
		t.Fatalf("condotest: %v", err)
	}
	t.Cleanup(pb.Stop)
	b := &PgBouncer{Port: pb.Port, db: db}
	b.URL = b.URLFor(db.Role)
	// Accepting TCP is not yet serving: wait for a real query.
	for {
		c, err := pgx.Connect(ctx, b.URL)
		if err == nil {
			err = c.Ping(ctx)
			_ = c.Close(ctx)
			if err == nil {
				return b
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("condotest: pgbouncer does not answer: %v: %s", err, pb.Output())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
