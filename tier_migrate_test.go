package condo_test

import (
	"context"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

// TestTierMigrate: one fleet run brings tenants of both tiers up to date,
// and a database-tier tenant whose migration committed in its database but
// not in the registry (a run that died between the two commits) is
// recorded, neither failing nor applied twice.
func TestTierMigrate(t *testing.T) {
	t.Parallel()
	e := newTierEnv(t, nil, nil)
	ctx := t.Context()
	a := e.createDB(t, "a")
	e.createDB(t, "b")
	e.create(t, "c")

	v2 := condotest.HotelMigrations()
	v2["0002_rating.sql"] = &fstest.MapFile{Data: []byte("ALTER TABLE hotel ADD COLUMN rating int NOT NULL DEFAULT 3;")}
	m2, err := condomigrate.New(e.pool, &condomigrate.Config{Tenant: v2, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	reg2 := condo.NewRegistry(e.pool, m2, &condo.RegistryConfig{SecretKey: testSecretKey, Logger: condotest.Logger(t)})
	defer reg2.Close()

	// The crash: a's database is at 2, the registry still says 1.
	tv := condomigrate.TenantVersion{ID: a.ID, Slug: a.Slug, Schema: a.Schema, Version: 1, Database: a.Database}
	if err := reg2.InTenantDatabaseTx(ctx, tv, func(tx pgx.Tx) error {
		_, err := m2.ApplyTenantDatabaseTx(ctx, tx, a.Slug, a.Schema, 2)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	res, err := m2.MigrateTenants(ctx, reg2, nil)
	if err != nil {
		t.Fatalf("MigrateTenants: %v", err)
	}
	slices.Sort(res.Migrated)
	if want := []string{"a", "b", "c"}; !slices.Equal(res.Migrated, want) {
		t.Errorf("migrated %v, want %v", res.Migrated, want)
	}
	for _, slug := range []string{"a", "b", "c"} {
		ten, err := reg2.Get(ctx, slug)
		if err != nil {
			t.Fatal(err)
		}
		if ten.MigrationVersion != 2 {
			t.Errorf("%s at version %d, want 2", slug, ten.MigrationVersion)
		}
		var history []int64
		err = reg2.InTx(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars, rating) VALUES ('H', 'C', 3, 5)"); err != nil {
				return err
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s after the migration: %v", slug, err)
		}
		// The history, read as the owner where it lives.
		if ten.Tier == condo.TierDatabase {
			tv := condomigrate.TenantVersion{ID: ten.ID, Slug: ten.Slug, Schema: ten.Schema, Database: ten.Database}
			err = reg2.InTenantDatabaseTx(ctx, tv, func(tx pgx.Tx) error {
				rows, err := tx.Query(ctx, "SELECT version FROM "+ten.Schema+".condo_migrations ORDER BY version")
				if err != nil {
					return err
				}
				history, err = pgx.CollectRows(rows, pgx.RowTo[int64])
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(history, []int64{1, 2}) {
				t.Errorf("%s history %v, want [1 2]", slug, history)
			}
		}
	}
	// The catalog holds version 2, and a second run finds nobody behind.
	var n int
	if err := e.pool.QueryRow(ctx, "SELECT count(*) FROM public.condo_migrations WHERE line = $1 AND version = 2", m2.TenantLine().Name).Scan(&n); err != nil || n != 1 {
		t.Errorf("catalog rows for version 2: %d, %v", n, err)
	}
	res, err = m2.MigrateTenants(ctx, reg2, nil)
	if err != nil || len(res.Pending) != 0 || res.UpToDate != 3 {
		t.Errorf("second run: pending %v, up to date %d, %v; want none, 3", res.Pending, res.UpToDate, err)
	}
}

// TestTierSecondServer: a database-tier tenant on another server (a second
// cluster), served, migrated and purged there.
func TestTierSecondServer(t *testing.T) {
	t.Parallel()
	cluster := condotest.NewCluster(t)
	other := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{Cluster: cluster, CreateDB: true, SkipMigrations: true})
	e := newTierEnv(t, nil, &condo.RegistryConfig{Servers: map[string]*pgxpool.Config{"eu": other.Pool.Config()}})
	ctx := t.Context()
	ten, err := e.reg.Create(ctx, condo.CreateParams{Slug: "far", Name: "Far", Tier: condo.TierDatabase, Server: "eu"})
	if err != nil {
		t.Fatal(err)
	}
	if ten.Server != "eu" {
		t.Fatalf("server %q, want eu", ten.Server)
	}
	var port uint16
	err = e.reg.InTx(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		port = tx.Conn().Config().Port
		_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ('H', 'C', 3)")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if port != uint16(cluster.Port()) {
		t.Errorf("served on port %d, want the second cluster's %d", port, cluster.Port())
	}
	if !exists(t, other.Pool, "pg_database", ten.Database) || exists(t, e.pool, "pg_database", ten.Database) {
		t.Error("the tenant's database is not (only) on the second server")
	}
	if err := e.reg.Delete(ctx, "far", &condo.DeleteOpts{Purge: true}); err != nil {
		t.Fatal(err)
	}
	if exists(t, other.Pool, "pg_database", ten.Database) || exists(t, other.Pool, "pg_roles", ten.Role) {
		t.Error("purge left the database or role on the second server")
	}
}
