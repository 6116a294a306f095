package condo_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condotest"
)

// TestCitusProvision creates and purges tenants whose roles are made by
// provisioning roles (issue 15) on a Citus coordinator: each tenant role
// exists on every worker (it logs in there for the tenant's distributed
// queries), the tenant's transactions work, and purge drops the role on
// the coordinator and the workers. On Citus the owner makes the tenant
// roles (Registry.Create says why): the provisioning roles make none.
func TestCitusProvision(t *testing.T) {
	t.Parallel()
	e := newCitusEnv(t, nil)
	ctx := t.Context()
	if res, err := condo.Provision(ctx, e.pool, 2); err != nil || res.Created != 2 {
		t.Fatalf("Provision on Citus: %+v, %v", res, err)
	}
	var tenants []*condo.Tenant
	for i := range 4 {
		tenants = append(tenants, e.create(t, fmt.Sprintf("p%d", i)))
	}
	for _, ten := range tenants {
		err := e.reg.InTenantTx(condo.WithTenant(ctx, ten), func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ($1, 'Oslo', 3)", ten.Slug)
			return err
		})
		if err != nil {
			t.Fatalf("InTenantTx %s: %v", ten.Slug, err)
		}
		var names []string
		err = e.reg.QueryTenant(condo.WithTenant(ctx, ten), func(rows pgx.Rows) error {
			var err error
			names, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		}, "SELECT name FROM hotel")
		if err != nil || len(names) != 1 || names[0] != ten.Slug {
			t.Fatalf("QueryTenant %s: %q, %v", ten.Slug, names, err)
		}
	}
	var made [2]int
	if err := e.pool.QueryRow(ctx, `SELECT (SELECT roles FROM public.condo_provisioners WHERE shard = 0),
		(SELECT roles FROM public.condo_provisioners WHERE shard = 1)`).Scan(&made[0], &made[1]); err != nil || made != [2]int{0, 0} {
		t.Fatalf("tenant roles made per provisioning role on Citus: %v, %v; want [0 0]", made, err)
	}
	cc := condotest.Citus(t)
	workerRoles := func(ten *condo.Tenant) []bool {
		t.Helper()
		var on []bool
		for i := range cc.Workers() {
			conn, err := pgx.Connect(ctx, cc.WorkerURL(i, "postgres", "postgres"))
			if err != nil {
				t.Fatal(err)
			}
			var exists bool
			err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)", ten.Role).Scan(&exists)
			conn.Close(ctx)
			if err != nil {
				t.Fatal(err)
			}
			on = append(on, exists)
		}
		return on
	}
	for _, ten := range tenants {
		for i, ok := range workerRoles(ten) {
			if !ok {
				t.Fatalf("tenant role %s missing on worker %d", ten.Role, i)
			}
		}
	}
	for _, ten := range tenants[:2] {
		if err := e.reg.Delete(ctx, ten.Slug, &condo.DeleteOpts{Purge: true}); err != nil {
			t.Fatalf("purge %s on Citus: %v", ten.Slug, err)
		}
		var exists bool
		if err := e.pool.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)", ten.Role).Scan(&exists); err != nil || exists {
			t.Fatalf("role of purged %s on the coordinator: exists %v, %v", ten.Slug, exists, err)
		}
		for i, ok := range workerRoles(ten) {
			if ok {
				t.Fatalf("role of purged %s still on worker %d", ten.Slug, i)
			}
		}
	}
	// The tenants left are untouched.
	for _, ten := range tenants[2:] {
		err := e.reg.QueryTenant(condo.WithTenant(ctx, ten), func(rows pgx.Rows) error { rows.Close(); return rows.Err() }, "SELECT count(*) FROM hotel")
		if err != nil {
			t.Fatalf("QueryTenant %s after the purges: %v", ten.Slug, err)
		}
	}
}
