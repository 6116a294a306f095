package condo_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

// TestPgBouncerTransactionMode runs the registry, InTenantTx and
// QueryTenant through a real PgBouncer in pool_mode = transaction with
// two server connections shared by eight client connections, so
// consecutive transactions of one client land on different backends: the
// set-up in which named statements and session state fail. Migrations go
// through the direct URL, as condocli does.
func TestPgBouncerTransactionMode(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	bouncer := condotest.NewPgBouncer(t, db, &condotest.PgBouncerOpts{PoolSize: 2})
	pool := bouncer.Pool(t, 8)
	ctx := t.Context()
	m, err := condomigrate.New(db.Pool, &condomigrate.Config{Tenant: condotest.HotelMigrations(), Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	reg := condo.NewRegistry(pool, m, &condo.RegistryConfig{Logger: condotest.Logger(t)})

	// The registry: create, rename, delete and purge.
	slugs := []string{"acme", "globex", "initech", "umbrella", "hooli", "stark"}
	tenants := map[string]*condo.Tenant{}
	for _, slug := range slugs {
		ten, err := reg.Create(ctx, condo.CreateParams{Slug: slug, Name: "Tenant " + slug})
		if err != nil {
			t.Fatalf("create %s: %v", slug, err)
		}
		tenants[slug] = ten
		err = reg.InTenantTx(condo.WithTenant(ctx, ten), func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) SELECT $1 || ' Hotel ' || g, 'Lisbon', 3 FROM generate_series(1, 3) g", slug)
			return err
		})
		if err != nil {
			t.Fatalf("InTenantTx %s: %v", slug, err)
		}
	}
	if err := reg.Rename(ctx, "stark", "stark-industries"); err != nil {
		t.Fatalf("rename: %v", err)
	}
	if ten, err := reg.Get(ctx, "stark-industries"); err != nil || ten.ID != tenants["stark"].ID {
		t.Fatalf("after rename: %v, %v", ten, err)
	}
	if err := reg.Delete(ctx, "stark-industries", &condo.DeleteOpts{Purge: true}); err != nil {
		t.Fatalf("purge: %v", err)
	}
	if _, err := reg.Get(ctx, "stark-industries"); !errors.Is(err, condo.ErrTenantNotFound) {
		t.Fatalf("after purge: got %v, want ErrTenantNotFound", err)
	}
	if err := reg.Delete(ctx, "hooli", nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	slugs = slugs[:4]

	// QueryTenant and InTenantTx from 16 goroutines: every answer is the
	// tenant's own.
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 40 {
				slug := slugs[(g+i)%len(slugs)]
				tctx := condo.WithTenant(ctx, tenants[slug])
				var names []string
				err := reg.QueryTenant(tctx, func(rows pgx.Rows) error {
					var err error
					names, err = pgx.CollectRows(rows, pgx.RowTo[string])
					return err
				}, "SELECT name FROM hotel WHERE stars = $1 AND city = $2 ORDER BY id", 3, "Lisbon")
				if err == nil && len(names) != 3 {
					err = fmt.Errorf("got %d rows", len(names))
				}
				for _, n := range names {
					if !strings.HasPrefix(n, slug+" ") {
						err = fmt.Errorf("tenant %s saw %q", slug, n)
					}
				}
				if err == nil && i%4 == 0 {
					err = reg.InTenantTx(tctx, func(ctx context.Context, tx pgx.Tx) error {
						var who string
						if err := tx.QueryRow(ctx, "SELECT current_user || ' ' || current_schema()").Scan(&who); err != nil {
							return err
						}
						if want := tenants[slug].Role + " " + tenants[slug].Schema; who != want {
							return fmt.Errorf("in transaction: got %q, want %q", who, want)
						}
						_, err := tx.Exec(ctx, "UPDATE hotel SET stars = 3 WHERE city = $1", "Lisbon")
						return err
					})
				}
				if err != nil {
					errs <- fmt.Errorf("goroutine %d, round %d, %s: %w", g, i, slug, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The walls hold through the pooler too.
	err = reg.QueryTenant(condo.WithTenant(ctx, tenants["acme"]), func(rows pgx.Rows) error {
		for rows.Next() {
		}
		return rows.Err()
	}, "SELECT name FROM "+tenants["globex"].Schema+".hotel")
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("another tenant's schema: got %v, want permission denied", err)
	}

	// A fleet migration that changes the columns of a cached query, run
	// with its advisory lock through the direct URL while the app's pool
	// goes through PgBouncer: the query is described again, once, on
	// every client connection.
	cols := func(ten *condo.Tenant) (int, error) {
		var n int
		err := reg.QueryTenant(condo.WithTenant(ctx, ten), func(rows pgx.Rows) error {
			n = len(rows.FieldDescriptions())
			for rows.Next() {
			}
			return rows.Err()
		}, "SELECT * FROM hotel")
		return n, err
	}
	for range 8 {
		if n, err := cols(tenants["acme"]); err != nil || n != 5 {
			t.Fatalf("before the migration: %d columns, %v", n, err)
		}
	}
	line := condotest.HotelMigrations()
	line["0002_rating.sql"] = &fstest.MapFile{Data: []byte("ALTER TABLE hotel ADD COLUMN rating numeric(3,1)")}
	m2, err := condomigrate.New(db.Pool, &condomigrate.Config{Tenant: line, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := m2.MigrateTenants(ctx, reg, nil)
	if err != nil || len(res.Migrated) != len(slugs) {
		t.Fatalf("migrate tenants: %v, %v", res, err)
	}
	for i := range 16 {
		if n, err := cols(tenants[slugs[i%len(slugs)]]); err != nil || n != 6 {
			t.Fatalf("after the migration, round %d: %d columns, %v", i, n, err)
		}
	}
}

// TestTenantPoolsPgBouncer: tenant-affine pools made from a pool
// configuration for a transaction pooler use no named statements either.
func TestTenantPoolsPgBouncer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	bouncer := condotest.NewPgBouncer(t, e.db, &condotest.PgBouncerOpts{PoolSize: 1})
	ctx := t.Context()
	cfg, err := pgxpool.ParseConfig(bouncer.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 4
	condo.ConfigurePool(cfg, condo.PoolerTransaction)
	tp, err := condo.NewTenantPools(ctx, cfg, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	var tenants []*condo.Tenant
	for i := range 4 {
		tenants = append(tenants, e.create(t, fmt.Sprintf("t%d", i)))
	}
	for i := range 20 {
		ten := tenants[i%4]
		var got string
		err := tp.QueryTenant(condo.WithTenant(ctx, ten), func(rows pgx.Rows) error {
			var err error
			got, err = pgx.CollectExactlyOneRow(rows, pgx.RowTo[string])
			return err
		}, "SELECT current_schema() || ' ' || current_user WHERE $1::int > 0", i+1)
		if want := ten.Schema + " " + ten.Role; err != nil || got != want {
			t.Fatalf("round %d: got %q, %v; want %q", i, got, err, want)
		}
	}
}

func TestDetectPooler(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{SkipMigrations: true})
	for _, tc := range []struct {
		name        string
		poolMode    string // "" for a direct connection
		wantMode    condo.PoolerMode
		wantAssumed bool
		wantErr     error
	}{
		{name: "direct", wantMode: condo.PoolerNone},
		{name: "transaction", poolMode: "transaction", wantMode: condo.PoolerTransaction},
		// Nothing observable tells a session pooler from a port mapping or
		// an unlucky transaction pooler: the safe guess, said to be one.
		{name: "session", poolMode: "session", wantMode: condo.PoolerTransaction, wantAssumed: true},
		{name: "statement", poolMode: "statement", wantErr: condo.ErrStatementPooler},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := db.URL
			if tc.poolMode != "" {
				url = condotest.NewPgBouncer(t, db, &condotest.PgBouncerOpts{PoolMode: tc.poolMode, PoolSize: 2}).URL
			}
			cfg, err := pgx.ParseConfig(url)
			if err != nil {
				t.Fatal(err)
			}
			info, err := condo.DetectPooler(t.Context(), cfg)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, %v; want %v", info, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode != tc.wantMode || info.Assumed != tc.wantAssumed {
				t.Errorf("got %s (assumed %v), want %s (assumed %v)", info, info.Assumed, tc.wantMode, tc.wantAssumed)
			}
			t.Logf("%s: %s", tc.name, info)
		})
	}
}

func TestParsePoolerMode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    condo.PoolerMode
		wantErr bool
	}{
		{"", condo.PoolerAuto, false},
		{"auto", condo.PoolerAuto, false},
		{"Transaction", condo.PoolerTransaction, false},
		{"session", condo.PoolerSession, false},
		{"none", condo.PoolerNone, false},
		{"statement", "", true},
		{"pgbouncer", "", true},
	} {
		got, err := condo.ParsePoolerMode(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParsePoolerMode(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
	if _, err := condo.ParsePoolerMode("statement"); !errors.Is(err, condo.ErrStatementPooler) {
		t.Errorf("statement: got %v, want ErrStatementPooler", err)
	}
}
