package condo_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condotest"
)

// BenchmarkQueryTenantPooler measures one tenant read on one connection
// in pooler mode (no named statements: set_config and the query as
// unnamed statements in one pipeline, types from the cached description)
// next to the prepared path, so the cost of each is a same-run ratio.
// "prepared": direct, the tenant's statement prepared. "unnamed": direct,
// pooler mode (what giving up prepared statements costs PostgreSQL and
// the client). "pgbouncer": pooler mode through PgBouncer in transaction
// mode (plus the pooler's hop). Run it with:
//
//	go test -run '^$' -bench QueryTenantPooler .
func BenchmarkQueryTenantPooler(b *testing.B) {
	e := newEnv(b, nil, &condotest.DatabaseOpts{MaxConns: 1})
	ctx := b.Context()
	ten := e.create(b, "acme")
	if _, err := e.pool.Exec(ctx, "INSERT INTO "+ten.Schema+".hotel (name, city, stars) SELECT 'Hotel ' || g, 'Lisbon', 3 FROM generate_series(1, 10) g"); err != nil {
		b.Fatal(err)
	}
	tctx := condo.WithTenant(ctx, ten)
	read := func(rows pgx.Rows) error {
		var id int64
		var name string
		_, err := pgx.ForEachRow(rows, []any{&id, &name}, func() error { return nil })
		return err
	}
	const q = "SELECT id, name FROM hotel ORDER BY id"
	poolerReg := func(url string) *condo.Registry {
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			b.Fatal(err)
		}
		cfg.MaxConns = 1
		condo.ConfigurePool(cfg, condo.PoolerTransaction)
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(pool.Close)
		return condo.NewRegistry(pool, e.migrator, nil)
	}
	bouncer := condotest.NewPgBouncer(b, e.db, &condotest.PgBouncerOpts{PoolSize: 1})
	for _, c := range []struct {
		name string
		reg  *condo.Registry
	}{
		{"prepared", e.reg},
		{"unnamed", poolerReg(e.db.URL)},
		{"pgbouncer", poolerReg(bouncer.URL)},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if err := c.reg.QueryTenant(tctx, read, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
