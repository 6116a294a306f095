package condo_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
	"github.com/condo-dev/condo/internal/citus"
)

// TestCitusDistributeTenants: a tenant made while the database was plain
// PostgreSQL (schema local, role NOLOGIN) is brought into the cluster once
// Citus is installed and the workers added: DistributeTenants distributes
// its schema and lets its role log in, after which its tenant transactions
// run on a worker; a second call finds nothing to do.
func TestCitusDistributeTenants(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cc := condotest.Citus(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "cd_" + hex.EncodeToString(b[:])
	exec := func(url string, qs ...string) {
		t.Helper()
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		for _, q := range qs {
			if _, err := c.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	// A plain database on every node, no Citus in it yet.
	exec(cc.AdminURL("postgres"), "CREATE ROLE "+name+" LOGIN CREATEROLE")
	exec(cc.AdminURL("postgres"), "CREATE DATABASE "+name+" OWNER "+name)
	for i := range cc.Workers() {
		exec(cc.WorkerURL(i, citus.Superuser, "postgres"), "CREATE DATABASE "+name+" OWNER "+name)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		for _, u := range []string{cc.AdminURL("postgres"), cc.WorkerURL(0, citus.Superuser, "postgres"), cc.WorkerURL(1, citus.Superuser, "postgres")} {
			c, err := pgx.Connect(ctx, u)
			if err != nil {
				t.Error(err)
				continue
			}
			_, err = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
			if err != nil {
				t.Error(err)
			}
		}
		c, err := pgx.Connect(ctx, cc.AdminURL("postgres"))
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(ctx)
		rows, _ := c.Query(ctx, "SELECT rolname FROM pg_roles WHERE rolname LIKE $1 ORDER BY rolname = $2", name+"%", name)
		roles, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Error(err)
		}
		for _, r := range roles {
			if _, err := c.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{r}.Sanitize()); err != nil {
				t.Error(err)
			}
		}
	})
	cfg, err := pgxpool.ParseConfig(cc.AdminURL(name))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.User = name
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	m, err := condomigrate.New(pool, &condomigrate.Config{Tenant: condotest.HotelMigrations(), Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.MigrateShared(ctx, nil); err != nil {
		t.Fatal(err)
	}
	before := condo.NewRegistry(pool, m, &condo.RegistryConfig{Logger: condotest.Logger(t)})
	old, err := before.Create(ctx, condo.CreateParams{Slug: "old", Name: "Old"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := before.DistributeTenants(ctx); !errors.Is(err, condo.ErrNotCitus) {
		t.Fatalf("DistributeTenants before Citus: got %v, want ErrNotCitus", err)
	}

	// Citus arrives: the extension on every node, the workers added, and
	// migrate's shared run (the owner's one-time set-up).
	for i := range cc.Workers() {
		exec(cc.WorkerURL(i, citus.Superuser, name), "CREATE EXTENSION citus", "ALTER SCHEMA public OWNER TO "+name)
	}
	stmts := []string{"CREATE EXTENSION citus", fmt.Sprintf("SELECT citus_set_coordinator_host('127.0.0.1', %d)", cc.Coordinator().Port)}
	for _, w := range cc.Workers() {
		stmts = append(stmts, fmt.Sprintf("SELECT citus_add_node('127.0.0.1', %d)", w.Port))
	}
	exec(cc.AdminURL(name), stmts...)
	pool.Reset()
	if _, err := m.MigrateShared(ctx, nil); err != nil {
		t.Fatal(err)
	}
	reg := condo.NewRegistry(pool, m, &condo.RegistryConfig{Logger: condotest.Logger(t)})
	got, err := reg.DistributeTenants(ctx)
	if err != nil {
		t.Fatalf("DistributeTenants: %v", err)
	}
	if diff := cmp.Diff([]string{"old"}, got); diff != "" {
		t.Fatalf("DistributeTenants (-want +got):\n%s", diff)
	}
	nodes, err := reg.Nodes(ctx, []*condo.Tenant{old})
	if err != nil || nodes[old.Schema].Port == cc.Coordinator().Port || nodes[old.Schema].Port == 0 {
		t.Fatalf("old is on %v (%v), want a worker", nodes, err)
	}
	err = reg.InTenantTx(condo.WithTenant(ctx, old), func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ('Old Inn', 'Paris', 3)")
		return err
	})
	if err != nil {
		t.Fatalf("tenant transaction after DistributeTenants: %v", err)
	}
	if got, err := reg.DistributeTenants(ctx); err != nil || len(got) != 0 {
		t.Fatalf("second DistributeTenants: %v, %v; want nothing to do", got, err)
	}
}
