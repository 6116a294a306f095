package condo_test

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

type env struct {
	pool     *pgxpool.Pool
	migrator *condomigrate.Migrator
	reg      *condo.Registry
	db       *condotest.Database
}

func newEnv(t testing.TB, tenantFS fstest.MapFS, opts *condotest.DatabaseOpts) *env {
	t.Helper()
	db := condotest.NewDatabaseInfo(t, opts)
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

func (e *env) create(t testing.TB, slug string, domains ...string) *condo.Tenant {
	t.Helper()
	ten, err := e.reg.Create(t.Context(), condo.CreateParams{Slug: slug, Name: "Tenant " + slug, Domains: domains})
	if err != nil {
		t.Fatalf("create %s: %v", slug, err)
	}
	return ten
}

// startResolver makes a resolver over e's registry and starts its
// listener, stopped when the test ends.
func startResolver(t testing.TB, e *env, cfg *condo.ResolverConfig) *condo.Resolver {
	t.Helper()
	cfg.Logger = condotest.Logger(t)
	res, err := condo.NewResolver(e.reg, cfg)
	if err != nil {
		t.Fatalf("NewResolver: %v", err)
	}
	if err := res.Start(t.Context()); err != nil {
		t.Fatalf("resolver Start: %v", err)
	}
	t.Cleanup(func() { _ = res.Stop(context.Background()) })
	return res
}
