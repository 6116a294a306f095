package condocli_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/condo-dev/condo/condocli"
	"github.com/condo-dev/condo/condotest"
)

// TestPooler runs the commands with DATABASE_URL through PgBouncer in
// transaction mode: what needs a session (migrate, serve) refuses to start
// without a direct URL, saying which variable to set, and works with one;
// the tenants commands work through the pooler alone.
func TestPooler(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	bouncer := condotest.NewPgBouncer(t, db, &condotest.PgBouncerOpts{PoolSize: 2})
	c := cli{t: t, url: bouncer.URL}

	c.fails("CONDO_DIRECT_DATABASE_URL", "migrate")
	c.fails("--direct-database-url", "serve", "--http", "127.0.0.1:0")
	c.ok("migrate", "--direct-database-url", db.URL)
	c.ok("tenants", "create", "acme", "--name", "Acme")
	c.ok("tenants", "rename", "acme", "acme-corp")
	if out := c.ok("tenants", "list"); !strings.Contains(out, "acme-corp") {
		t.Fatalf("tenants list: %s", out)
	}
	c.ok("tenants", "exec", "acme-corp", "--sql", "INSERT INTO hotel (name, city, stars) VALUES ('Ritz', 'Paris', 5)")
	c.ok("migrate", "--direct-database-url", db.URL, "--tenants")
	// Configured rather than detected.
	direct := cli{t: t, url: db.URL}
	direct.fails("CONDO_DIRECT_DATABASE_URL", "migrate", "--pooler", "transaction")
	direct.ok("migrate", "--pooler", "none")
	direct.fails("statement pooling", "migrate", "--pooler", "statement")
	// A direct URL that goes through the pooler too.
	c.fails("direct database url goes through a transaction pooler", "migrate", "--direct-database-url", bouncer.URL)
}

// TestDoctorPooler: doctor's pooler line behind PgBouncer, without and
// with the direct URL, and when the direct URL does not answer.
func TestDoctorPooler(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	bouncer := condotest.NewPgBouncer(t, db, &condotest.PgBouncerOpts{PoolSize: 2})
	cli{t: t, url: db.URL}.ok("migrate")
	c := cli{t: t, url: bouncer.URL}

	lines, out, err := doctorLines(t, c)
	if !errors.Is(err, condocli.ErrDoctorFailed) {
		t.Fatalf("doctor without direct URL: got %v, want ErrDoctorFailed", err)
	}
	wantLines(t, out, lines, map[string][2]string{
		"pooler": {"FAIL", "transaction pooler, detected: two client connections ran on the same server backend; serve and migrate need a direct connection"},
	})
	// Fifty instances of 20 connections to the pooler would not fit the
	// server directly, but PostgreSQL only sees the pooler's pool and the
	// listeners.
	lines, out, err = doctorLines(t, c, "--direct-database-url", db.URL, "--instances", "50")
	if err != nil {
		t.Fatalf("doctor with direct URL: %v", err)
	}
	wantLines(t, out, lines, map[string][2]string{
		"pooler":      {"ok", "transaction pooler, detected: two client connections ran on the same server backend; queries use no named prepared statements"},
		"connections": {"ok", "behind a transaction pooler: --db-conns are connections to the pooler; PostgreSQL takes "},
	})
	lines, out, _ = doctorLines(t, c, "--pooler", "transaction", "--direct-database-url", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if l := lines["database"]; !strings.Contains(l, "direct database url") {
		t.Errorf("unreachable direct URL: got %q\n%s", l, out)
	}
}
