package condo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

func newCitusEnv(t testing.TB, tenantFS fstest.MapFS) *env {
	t.Helper()
	db := condotest.NewCitusDatabase(t, nil)
	if tenantFS == nil {
		tenantFS = condotest.HotelMigrations()
	}
	m, err := condomigrate.New(db.Pool, &condomigrate.Config{Tenant: tenantFS, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatalf("migrator: %v", err)
	}
	reg := condo.NewRegistry(db.Pool, m, &condo.RegistryConfig{Logger: condotest.Logger(t)})
	return &env{pool: db.Pool, migrator: m, reg: reg, db: db}
}

// TestCitusLifecycle runs Condo unchanged on a Citus cluster: tenant
// creation (its schema distributed by Citus), tenant transactions and
// queries behind their walls, a fleet migration, export and import,
// suspend, delete and purge.
func TestCitusLifecycle(t *testing.T) {
	t.Parallel()
	e := newCitusEnv(t, nil)
	ctx := t.Context()
	acme, globex := e.create(t, "acme"), e.create(t, "globex")

	// Each tenant schema is a distributed schema of its own.
	rows, _ := e.pool.Query(ctx, "SELECT schema_name::text FROM public.citus_schemas ORDER BY 1")
	schemas, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{acme.Schema, globex.Schema}, schemas); diff != "" {
		t.Fatalf("citus_schemas (-want +got):\n%s", diff)
	}

	for i, ten := range []*condo.Tenant{acme, globex} {
		err := e.reg.InTenantTx(condo.WithTenant(ctx, ten), func(ctx context.Context, tx pgx.Tx) error {
			var id int64
			if err := tx.QueryRow(ctx, "INSERT INTO hotel (name, city, stars) VALUES ($1, 'Paris', 4) RETURNING id", ten.Slug+" hotel").Scan(&id); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO room (hotel_id, number, beds, price) VALUES ($1, $2, 2, 99.5)", id, fmt.Sprint(100+i))
			return err
		})
		if err != nil {
			t.Fatalf("InTenantTx %s: %v", ten.Slug, err)
		}
	}
	// Sizes come from the shards on the workers, not from the
	// coordinator's empty placeholders; rows from the workers' statistics,
	// which are written when a transaction ends.
	sizes, err := e.reg.Sizes(ctx, []*condo.Tenant{acme, globex})
	if err != nil {
		t.Fatalf("Sizes: %v", err)
	}
	for _, ten := range []*condo.Tenant{acme, globex} {
		if s := sizes[ten.Schema]; s.Bytes < 3*8192 {
			t.Errorf("size of %s = %+v; want the shards' bytes (at least a page per table)", ten.Slug, s)
		}
	}

	info, err := e.reg.Cluster(ctx)
	if err != nil {
		t.Fatalf("Cluster: %v", err)
	}
	tenantsOnWorkers := 0
	for _, n := range info.Nodes {
		if n.WALLevel != "logical" || !n.Active {
			t.Errorf("node %v: wal_level %q, active %v; want logical, active", n.Node, n.WALLevel, n.Active)
		}
		if n.Role == "worker" {
			tenantsOnWorkers += n.Tenants
		}
	}
	if len(info.Nodes) != 3 || !info.OwnerSetUp || !info.SchemaSharding || tenantsOnWorkers != 2 {
		t.Errorf("Cluster = %+v; want 3 nodes, the owner set up, schema sharding on, 2 tenants on the workers", info)
	}

	// The walls: a tenant reads its own rows, and another tenant's schema
	// is refused.
	var names []string
	err = e.reg.QueryTenant(condo.WithTenant(ctx, acme), func(rows pgx.Rows) error {
		names, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	}, "SELECT name FROM hotel ORDER BY id")
	if err != nil || !cmp.Equal(names, []string{"acme hotel"}) {
		t.Fatalf("QueryTenant acme = %v, %v; want [acme hotel]", names, err)
	}
	err = e.reg.InTenantTx(condo.WithTenant(ctx, acme), func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SELECT count(*) FROM "+pgx.Identifier{globex.Schema, "hotel"}.Sanitize())
		return err
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Fatalf("acme reading globex: got %v, want insufficient_privilege (42501)", err)
	}

	// A fleet migration with an index and an ALTER TABLE (DDL whose text
	// Citus forwards to the workers).
	tenantFS := condotest.HotelMigrations()
	tenantFS["0002_rating.sql"] = &fstest.MapFile{Data: []byte(`
ALTER TABLE hotel ADD COLUMN rating numeric(2,1); -- a comment; with a semicolon
CREATE INDEX hotel_city ON hotel (city);
COMMENT ON TABLE hotel IS 'hotels; one per row';`)}
	m2, err := condomigrate.New(e.pool, &condomigrate.Config{Tenant: tenantFS, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := m2.MigrateTenants(ctx, e.reg, nil)
	if err != nil || len(res.Migrated) != 2 {
		t.Fatalf("MigrateTenants: %v, %+v", err, res)
	}
	reg2 := condo.NewRegistry(e.pool, m2, &condo.RegistryConfig{Logger: condotest.Logger(t)})

	// Export and import as a new tenant, itself distributed.
	var buf bytes.Buffer
	if err := reg2.Export(ctx, "acme", &buf); err != nil {
		t.Fatalf("Export: %v", err)
	}
	copyT, err := reg2.Import(ctx, &buf, condo.ImportParams{Slug: "acme-copy"})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	var n int
	err = reg2.QueryTenant(condo.WithTenant(ctx, copyT), func(rows pgx.Rows) error {
		for rows.Next() {
			if err := rows.Scan(&n); err != nil {
				return err
			}
		}
		return rows.Err()
	}, "SELECT count(*) FROM hotel JOIN room ON room.hotel_id = hotel.id WHERE hotel.rating IS NULL")
	if err != nil || n != 1 {
		t.Fatalf("imported rows = %d, %v; want 1", n, err)
	}

	// Suspend, list, delete, purge.
	if err := reg2.Suspend(ctx, "globex"); err != nil {
		t.Fatalf("Suspend: %v", err)
	}
	page, err := reg2.List(ctx, condo.ListParams{Status: condo.StatusSuspended})
	if err != nil || len(page.Tenants) != 1 || page.Tenants[0].Slug != "globex" {
		t.Fatalf("List suspended = %v, %v", page, err)
	}
	if err := reg2.Delete(ctx, "globex", nil); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := reg2.Delete(ctx, "globex", &condo.DeleteOpts{Purge: true}); err != nil {
		t.Fatalf("purge: %v", err)
	}
	if err := e.pool.QueryRow(ctx, "SELECT count(*) FROM public.citus_schemas WHERE schema_name::text = $1", globex.Schema).Scan(&n); err != nil || n != 0 {
		t.Fatalf("purged schema still distributed: %d, %v", n, err)
	}
}

// TestCitusTenantPools checks what tenant-affine pools buy on Citus: each
// coordinator backend meets only its pool's tenants, so each tenant role
// holds at most one connection to the worker with its schema, where one
// shared pool would give a role one per coordinator backend that ran it.
func TestCitusTenantPools(t *testing.T) {
	t.Parallel()
	e := newCitusEnv(t, nil)
	ctx := t.Context()
	var tenants []*condo.Tenant
	for i := range 8 {
		tenants = append(tenants, e.create(t, fmt.Sprintf("t%d", i)))
	}
	cfg, err := pgxpool.ParseConfig(e.db.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 4
	tp, err := condo.NewTenantPools(ctx, cfg, 4) // one connection each
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	reg := condo.NewRegistry(e.pool, e.migrator, &condo.RegistryConfig{TenantPools: tp, Logger: condotest.Logger(t)})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for c := range 8 {
		wg.Go(func() {
			for i := range 40 {
				ten := tenants[(c+i)%len(tenants)]
				err := reg.InTenantTx(condo.WithTenant(ctx, ten), func(ctx context.Context, tx pgx.Tx) error {
					_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ('h', 'c', 3)")
					return err
				})
				if err == nil {
					err = reg.QueryTenant(condo.WithTenant(ctx, ten), func(rows pgx.Rows) error { rows.Close(); return rows.Err() }, "SELECT count(*) FROM hotel")
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatalf("tenant transaction: %v", err)
	}
	cc := condotest.Citus(t)
	for i := range cc.Workers() {
		conn, err := pgx.Connect(ctx, cc.WorkerURL(i, "postgres", "postgres"))
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := conn.Query(ctx, `SELECT usename::text, count(*) FROM pg_stat_activity
			WHERE datname = $1 AND usename LIKE $2 GROUP BY 1 HAVING count(*) > 1`, e.db.Name, e.db.Role+"_tenant_%")
		over, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
			Role string
			N    int
		}])
		conn.Close(ctx)
		if err != nil || len(over) > 0 {
			t.Fatalf("worker %d: tenant roles with more than one connection: %v, %v", i, over, err)
		}
	}
}

// TestCitusSharedReference: a tenant table may reference a shared table on
// Citus only when that is a reference table. Without one, tenant creation
// fails naming both tables and what to do; a shared migration that makes
// it one (only where Citus is installed, so the same file runs on plain
// PostgreSQL) makes the reference work.
func TestCitusSharedReference(t *testing.T) {
	t.Parallel()
	tenantFS := fstest.MapFS{"0001_booking.sql": {Data: []byte(`
CREATE TABLE booking (id bigint PRIMARY KEY, plan text NOT NULL REFERENCES public.plan (name));`)}}
	for _, tc := range []struct {
		name, shared string
		wantErr      string
	}{
		{"plain shared table", `CREATE TABLE plan (name text PRIMARY KEY);`,
			`a tenant table references shared table plan, which on Citus must be a reference table`},
		{"reference table", `CREATE TABLE plan (name text PRIMARY KEY);
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        PERFORM create_reference_table('public.plan');
    END IF;
END
$$;
INSERT INTO plan VALUES ('basic');`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := condotest.NewCitusDatabase(t, nil)
			m, err := condomigrate.New(db.Pool, &condomigrate.Config{Logger: condotest.Logger(t),
				Shared: fstest.MapFS{"0001_plan.sql": {Data: []byte(tc.shared)}}, Tenant: tenantFS})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.MigrateShared(t.Context(), nil); err != nil {
				t.Fatalf("MigrateShared: %v", err)
			}
			reg := condo.NewRegistry(db.Pool, m, &condo.RegistryConfig{Logger: condotest.Logger(t)})
			ten, err := reg.Create(t.Context(), condo.CreateParams{Slug: "acme", Name: "Acme"})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Create: got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			err = reg.InTenantTx(condo.WithTenant(t.Context(), ten), func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, "INSERT INTO booking VALUES (1, 'basic')")
				return err
			})
			if err != nil {
				t.Fatalf("insert referencing the reference table: %v", err)
			}
		})
	}
}

// TestCitusInstancesSeeChanges: two Condo instances against the
// coordinator, one creating and suspending a tenant, the other's resolver
// (LISTEN on the coordinator) seeing both, as on one server.
func TestCitusInstancesSeeChanges(t *testing.T) {
	t.Parallel()
	e := newCitusEnv(t, nil)
	ctx := t.Context()
	other, err := pgxpool.New(ctx, e.db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	reg2 := condo.NewRegistry(other, e.migrator, &condo.RegistryConfig{Logger: condotest.Logger(t)})
	res, err := condo.NewResolver(e.reg, &condo.ResolverConfig{BaseDomains: []string{"example.test"}, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer res.Stop(context.Background())
	if _, err := res.Resolve(ctx, "acme.example.test"); !errors.Is(err, condo.ErrUnknownHost) {
		t.Fatalf("before creation: got %v, want ErrUnknownHost", err)
	}
	if _, err := reg2.Create(ctx, condo.CreateParams{Slug: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	condotest.WaitFor(t, 10*time.Second, "creation seen", func() bool {
		rt, err := res.Resolve(ctx, "acme.example.test")
		return err == nil && rt.Kind == condo.RouteTenant
	})
	if err := reg2.Suspend(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	condotest.WaitFor(t, 10*time.Second, "suspension seen", func() bool {
		rt, err := res.Resolve(ctx, "acme.example.test")
		return err == nil && rt.Kind == condo.RouteSuspended
	})
}
