package condo_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

// BenchmarkTierFirstUse: what a database-tier tenant's first transaction
// costs (its pool made, a connection opened, logging in as its role) next
// to one on its warm pool, with trust and with scram-sha-256 for tenant
// roles (BENCHMARKS.md, "W3 with 10% in the database tier"):
//
//	go test -run '^$' -bench TierFirstUse -benchtime 200x .
func BenchmarkTierFirstUse(b *testing.B) {
	cl := condotest.NewCluster(b)
	db := condotest.NewDatabaseInfo(b, &condotest.DatabaseOpts{Cluster: cl, CreateDB: true})
	ctx := b.Context()
	m, err := condomigrate.New(db.Pool, &condomigrate.Config{Tenant: condotest.HotelMigrations(), Logger: condotest.Logger(b)})
	if err != nil {
		b.Fatal(err)
	}
	cfg := func() *condo.RegistryConfig {
		return &condo.RegistryConfig{Logger: condotest.Logger(b), SecretKey: testSecretKey}
	}
	reg := condo.NewRegistry(db.Pool, m, cfg())
	ten, err := reg.Create(ctx, condo.CreateParams{Slug: "acme", Name: "Acme", Tier: condo.TierDatabase})
	if err != nil {
		b.Fatal(err)
	}
	reg.Close()
	one := func(r *condo.Registry) {
		if err := r.InTx(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "SELECT 1")
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	for _, auth := range []string{"trust", "scram-sha-256"} {
		cl.Shutdown(condotest.ShutdownFast)
		cl.SetHBA("local all all trust", "host all postgres,"+db.Role+" 127.0.0.1/32 trust", "host all all 127.0.0.1/32 "+auth)
		cl.Restart(b)
		db.Pool.Reset()
		b.Run(auth+"/first", func(b *testing.B) {
			for b.Loop() {
				r := condo.NewRegistry(db.Pool, m, cfg())
				one(r)
				r.Close()
			}
		})
		b.Run(auth+"/warm", func(b *testing.B) {
			r := condo.NewRegistry(db.Pool, m, cfg())
			defer r.Close()
			one(r)
			for b.Loop() {
				one(r)
			}
		})
	}
}
