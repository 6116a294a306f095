package condo_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condotest"
)

func TestQueryTenant(t *testing.T) {
	t.Parallel()
	// One connection, so every tenant's queries share it and its prepared
	// statements.
	e := newEnv(t, nil, &condotest.DatabaseOpts{MaxConns: 1})
	ctx := t.Context()
	tenants := map[string]*condo.Tenant{}
	for _, slug := range []string{"acme", "globex", "initech"} {
		ten := e.create(t, slug)
		tenants[slug] = ten
		err := e.reg.InTx(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) SELECT $1 || ' Hotel ' || g, 'Lisbon', 3 FROM generate_series(1, 3) g", slug)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	names := func(slug string) ([]string, error) {
		var out []string
		err := e.reg.QueryTenant(condo.WithTenant(ctx, tenants[slug]), func(rows pgx.Rows) error {
			var err error
			out, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		}, "SELECT name FROM hotel ORDER BY id")
		return out, err
	}
	for i := range 30 {
		slug := []string{"acme", "globex", "initech"}[i%3]
		got, err := names(slug)
		if err != nil {
			t.Fatalf("round %d, %s: %v", i, slug, err)
		}
		if len(got) != 3 {
			t.Fatalf("round %d, %s: got %v", i, slug, got)
		}
		for _, n := range got {
			if !strings.HasPrefix(n, slug+" ") {
				t.Fatalf("round %d: tenant %s saw %q", i, slug, n)
			}
		}
	}
	// Arguments, on the pipelined path too (second and later runs).
	for range 3 {
		var n int
		err := e.reg.QueryTenant(condo.WithTenant(ctx, tenants["initech"]), func(rows pgx.Rows) error {
			for rows.Next() {
				n++
			}
			return rows.Err()
		}, "SELECT name FROM hotel WHERE stars = $1 AND name LIKE $2", 3, "initech%")
		if err != nil || n != 3 {
			t.Fatalf("query with arguments: %d rows, %v", n, err)
		}
	}
	// The walls: another tenant's schema, the registry, and writes.
	acme := condo.WithTenant(ctx, tenants["acme"])
	for _, q := range []string{
		fmt.Sprintf("SELECT name FROM %s.hotel", tenants["globex"].Schema),
		"SELECT slug FROM public.condo_tenants",
		fmt.Sprintf("INSERT INTO %s.hotel (name, city, stars) VALUES ('x', 'y', 1) RETURNING name", tenants["globex"].Schema),
	} {
		err := e.reg.QueryTenant(acme, func(rows pgx.Rows) error {
			for rows.Next() {
			}
			return rows.Err()
		}, q)
		if err == nil {
			t.Errorf("%s: got no error", q)
		}
	}
	// Still fine afterwards, on the same connection.
	if got, err := names("globex"); err != nil || len(got) != 3 {
		t.Errorf("after errors: %v, %v", got, err)
	}
	if err := e.reg.QueryTenant(ctx, func(pgx.Rows) error { return nil }, "SELECT 1"); !errors.Is(err, condo.ErrNoTenant) {
		t.Errorf("no tenant: got %v, want ErrNoTenant", err)
	}
}

func TestTenantPools(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	ctx := t.Context()
	cfg, err := pgxpool.ParseConfig(e.db.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 3
	tp, err := condo.NewTenantPools(ctx, cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	for _, slug := range []string{"acme", "globex", "initech", "umbrella"} {
		ten := e.create(t, slug)
		if p1, p2 := tp.For(ten), tp.For(ten); p1 != p2 || p1.Config().MaxConns != 1 {
			t.Fatalf("For(%s) is not one stable one-connection pool", slug)
		}
		var got string
		err := tp.QueryTenant(condo.WithTenant(ctx, ten), func(rows pgx.Rows) error {
			var err error
			got, err = pgx.CollectExactlyOneRow(rows, pgx.RowTo[string])
			return err
		}, "SELECT current_schema() || ' ' || current_user")
		if want := ten.Schema + " " + ten.Role; err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", slug, got, err, want)
		}
	}
	if _, err := condo.NewTenantPools(ctx, cfg, 0); err == nil {
		t.Error("n = 0: got no error")
	}
}

// TestQueryTenantPrepare covers the statement bookkeeping on one pooled
// connection: a first query that fails to prepare leaves the connection
// usable, and a statement whose result columns a migration changed is
// prepared again instead of failing from then on.
func TestQueryTenantPrepare(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, &condotest.DatabaseOpts{MaxConns: 1})
	ctx := t.Context()
	ten := e.create(t, "acme")
	tctx := condo.WithTenant(ctx, ten)
	count := func(rows pgx.Rows) error {
		for rows.Next() {
		}
		return rows.Err()
	}
	// The very first statement on the connection does not parse.
	if err := e.reg.QueryTenant(tctx, count, "SELEC name FROM hotel"); err == nil {
		t.Fatal("syntax error: got no error")
	}
	// A tenant whose role is gone (dropped behind the registry's back):
	// set_config fails while executing, and the rest of the pipeline is
	// skipped.
	ghost := *ten
	ghost.Role = "condo_no_such_role"
	if err := e.reg.QueryTenant(condo.WithTenant(ctx, &ghost), count, "SELECT name FROM hotel"); err == nil ||
		!strings.Contains(err.Error(), "condo_no_such_role") {
		t.Fatalf("missing role: got %v", err)
	}
	// Nor does one naming a table the tenant does not have.
	if err := e.reg.QueryTenant(tctx, count, "SELECT * FROM nosuchtable"); err == nil {
		t.Fatal("unknown table: got no error")
	}
	cols := func() ([]string, error) {
		var names []string
		err := e.reg.QueryTenant(tctx, func(rows pgx.Rows) error {
			for _, f := range rows.FieldDescriptions() {
				names = append(names, f.Name)
			}
			return count(rows)
		}, "SELECT * FROM hotel")
		return names, err
	}
	for range 2 {
		if got, err := cols(); err != nil || len(got) != 5 {
			t.Fatalf("before the migration: %v, %v", got, err)
		}
	}
	// As a tenant migration does: as the app role, on the same connection.
	if _, err := e.pool.Exec(ctx, "ALTER TABLE "+ten.Schema+".hotel ADD COLUMN rating numeric(3,1)"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, err := cols()
		if err != nil || len(got) != 6 || got[5] != "rating" {
			t.Fatalf("after the migration: %v, %v", got, err)
		}
	}
	// Something deallocates the connection's statements behind its back
	// (a pool hook running DISCARD ALL, say).
	if _, err := e.pool.Exec(ctx, "DEALLOCATE ALL"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got, err := cols(); err != nil || len(got) != 6 {
			t.Fatalf("after DEALLOCATE ALL: %v, %v", got, err)
		}
	}
}
