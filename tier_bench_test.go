package condo_test

import (
	"context"
	"fmt"
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

// BenchmarkTierQuery: W3's query through QueryTenant from 2 goroutines
// (a tenant's share of W3's 16 connections is well under its pool's 2) on
// a schema-tier tenant and on a database-tier one, alternated, in one
// process: the per-request cost of each path without HTTP or wrk
// (BENCHMARKS.md, "W3 with 10% in the database tier"):
//
//	go test -run '^$' -bench TierQuery -benchtime 3s .
func BenchmarkTierQuery(b *testing.B) {
	e := newTierEnv(b, nil, &condo.RegistryConfig{})
	ctx := b.Context()
	tenants := map[condo.Tier]*condo.Tenant{}
	for _, tier := range []condo.Tier{condo.TierSchema, condo.TierDatabase} {
		ten, err := e.reg.Create(ctx, condo.CreateParams{Slug: string(tier), Name: string(tier), Tier: tier})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.reg.InTx(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) SELECT 'H' || i, 'Porto', 3 FROM generate_series(1, 10) i")
			return err
		}); err != nil {
			b.Fatal(err)
		}
		tenants[tier] = ten
	}
	for round := range 3 {
		for _, tier := range []condo.Tier{condo.TierSchema, condo.TierDatabase} {
			tctx := condo.WithTenant(ctx, tenants[tier])
			b.Run(fmt.Sprintf("%s/round%d", tier, round+1), func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						n := 0
						if err := e.reg.QueryTenant(tctx, func(rows pgx.Rows) error {
							for rows.Next() {
								n++
							}
							return rows.Err()
						}, "SELECT id, name, city, stars FROM hotel ORDER BY id"); err != nil || n != 10 {
							b.Errorf("%d rows, %v", n, err)
							return
						}
					}
				})
			})
		}
	}
}
