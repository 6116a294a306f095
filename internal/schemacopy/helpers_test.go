package schemacopy_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo/condotest"
	"github.com/condo-dev/condo/internal/schemacopy"
)

// schema is the tenant's schema on both sides (the database tier keeps
// the name).
const schema = "tenant_1"

// env is a move's world: a source and a target database on the test
// server, the tenant's schema in each (the hotels tables), and the tenant
// role of the source, which writers use as Condo does.
type env struct {
	src, dst *condotest.Database
	role     string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{
		src: condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{MaxConns: 16}),
		dst: condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{MaxConns: 16}),
	}
	// Named after the database, so the database's cleanup drops it.
	e.role = e.src.Name + "_t1"
	ddl := string(condotest.HotelMigrations()["0001_hotels.sql"].Data)
	mustExec(t, e.src.Pool, "CREATE ROLE "+quote(e.role))
	mustExec(t, e.src.Pool, "GRANT "+quote(e.role)+" TO CURRENT_USER")
	for _, db := range []*condotest.Database{e.src, e.dst} {
		mustExec(t, db.Pool, "CREATE SCHEMA "+schema)
		mustExec(t, db.Pool, "GRANT USAGE ON SCHEMA "+schema+" TO "+quote(e.role))
		mustExec(t, db.Pool, "ALTER DEFAULT PRIVILEGES IN SCHEMA "+schema+" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "+quote(e.role))
		mustExec(t, db.Pool, "ALTER DEFAULT PRIVILEGES IN SCHEMA "+schema+" GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO "+quote(e.role))
		mustExec(t, db.Pool, "BEGIN; SET LOCAL search_path TO "+schema+";"+ddl+"; COMMIT")
		// The registry's row for the tenant: the test's stand-in for
		// Condo's tenant table, in each database (one of them is used).
		mustExec(t, db.Pool, "CREATE TABLE public.placement (tenant text PRIMARY KEY, place text NOT NULL)")
		mustExec(t, db.Pool, "INSERT INTO public.placement VALUES ('t1', 'source')")
	}
	return e
}

func quote(s string) string { return pgx.Identifier{s}.Sanitize() }

func mustExec(t testing.TB, p *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := p.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (e *env) mover(t testing.TB) *schemacopy.Mover {
	t.Helper()
	m, err := schemacopy.New(
		schemacopy.Endpoint{Pool: e.src.Pool, Schema: schema},
		schemacopy.Endpoint{Pool: e.dst.Pool, Schema: schema},
		&schemacopy.Config{Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// switchIn returns a SwitchFunc setting the placement row: in the
// fencing transaction when given one, else in db.
func switchIn(db *condotest.Database) schemacopy.SwitchFunc {
	return func(ctx context.Context, tx pgx.Tx) error {
		q := "UPDATE public.placement SET place = 'target' WHERE tenant = 't1'"
		if tx != nil {
			_, err := tx.Exec(ctx, q)
			return err
		}
		_, err := db.Pool.Exec(ctx, q)
		return err
	}
}

// tenantTx runs f as the tenant, as Condo's InTenantTx does.
func (e *env) tenantTx(ctx context.Context, f func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, e.src.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+schema+"; SET LOCAL ROLE "+quote(e.role)); err != nil {
			return err
		}
		return f(tx)
	})
}

// seed inserts hotels, each with rooms, as the owner.
func seed(t testing.TB, p *pgxpool.Pool, hotels, rooms int) {
	t.Helper()
	mustExec(t, p, `INSERT INTO tenant_1.hotel (name, city, stars)
SELECT 'hotel ' || i, 'city ' || (i % 97), 1 + i % 5 FROM generate_series(1, $1) i`, hotels)
	mustExec(t, p, `INSERT INTO tenant_1.room (hotel_id, number, beds, price)
SELECT h.id, r::text, 1 + r % 4, 50 + (h.id * r) % 400 FROM tenant_1.hotel h, generate_series(1, $1) r`, rooms)
}

// contents is a table's rows in key order, as text.
func contents(t testing.TB, p *pgxpool.Pool, schema, table string) string {
	t.Helper()
	var s *string
	err := p.QueryRow(context.Background(),
		"SELECT string_agg(t::text, E'\\n' ORDER BY id) FROM "+pgx.Identifier{schema, table}.Sanitize()+" t").Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	if s == nil {
		return ""
	}
	return *s
}

// schemaExists reports whether name exists in p's database.
func schemaExists(t testing.TB, p *pgxpool.Pool, name string) bool {
	t.Helper()
	var ok bool
	if err := p.QueryRow(context.Background(), "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func placement(t testing.TB, db *condotest.Database) string {
	t.Helper()
	var s string
	if err := db.Pool.QueryRow(context.Background(), "SELECT place FROM public.placement WHERE tenant = 't1'").Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// waitBlocked waits until the backend whose application_name is app
// waits for a lock on a table of the tenant's schema.
func waitBlocked(t testing.TB, db *condotest.Database, app string) {
	t.Helper()
	condotest.WaitFor(t, 30*time.Second, "a writer blocked on the write pause", func() error {
		var n int
		err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_stat_activity a ON a.pid = l.pid
WHERE NOT l.granted AND n.nspname = $1 AND a.application_name = $2`, schema, app).Scan(&n)
		if err == nil && n == 0 {
			err = fmt.Errorf("no writer waits")
		}
		return err
	})
}
