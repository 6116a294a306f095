package condo_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condotest"
)

// TestShardedRoles runs the issue-15 set-up: two provisioning roles and
// two runtime login roles, each serving one shard of the tenants on its
// own pool. Every tenant role is granted to its shard's runtime role only
// and created by a provisioning role, the owner is a member of no tenant
// role, a runtime role can't reach another shard's tenant, purge works,
// and tenants created while another goroutine serves the existing ones
// leave every request correct.
func TestShardedRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, &condotest.DatabaseOpts{Runtime: true})
	ctx := t.Context()
	rt0 := e.db.RuntimeRole
	rt1 := rt0 + "_1"
	if _, err := e.pool.Exec(ctx, "CREATE ROLE "+rt1+" LOGIN NOINHERIT"); err != nil {
		t.Fatal(err)
	}
	if res, err := condo.Provision(ctx, e.pool, 2); err != nil || res.Created != 2 || res.Total != 2 {
		t.Fatalf("Provision: %+v, %v", res, err)
	}
	if res, err := condo.Provision(ctx, e.pool, 1); err != nil || res.Created != 0 || res.Total != 2 {
		t.Fatalf("Provision again, fewer: %+v, %v; want nothing made, 2 in all", res, err)
	}
	for k, rt := range []string{rt0, rt1} {
		if _, err := condo.GrantRuntime(ctx, e.pool, rt, &condo.GrantRuntimeOpts{Shards: 2, Shard: k}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := condo.GrantRuntime(ctx, e.pool, rt1, &condo.GrantRuntimeOpts{Shards: 2, Shard: 2}); err == nil {
		t.Fatal("GrantRuntime shard 2 of 2: no error")
	}
	cfg := e.db.RuntimePool.Config().Copy()
	cfg.ConnConfig.User = rt1
	pool1, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	pools := condo.NewTenantPoolsOf(e.db.RuntimePool, pool1)
	t.Cleanup(pool1.Close)

	var tenants []*condo.Tenant
	for i := range 4 {
		tenants = append(tenants, e.create(t, fmt.Sprintf("s%d", i)))
	}
	for _, ten := range tenants {
		checkShardedTenant(t, e, ten, []string{rt0, rt1})
		if err := pools.For(ten).AcquireFunc(ctx, func(c *pgxpool.Conn) error {
			_, err := c.Exec(ctx, "INSERT INTO "+ten.Schema+".hotel (name, city, stars) VALUES ($1, 'Rome', 3)", ten.Slug)
			return err
		}); err == nil {
			t.Fatalf("runtime role wrote %s without its role", ten.Slug)
		}
	}
	// A runtime role can't take another shard's tenant role.
	other := tenants[1]
	if other.ID%2 == 1 {
		other = tenants[0]
	}
	// other is in shard 0: pool1 (shard 1) must be refused.
	if other.ID%2 != 0 {
		t.Fatalf("tenants %d and %d both odd", tenants[0].ID, tenants[1].ID)
	}
	_, err = pool1.Exec(ctx, "SELECT set_config('role', $1, true)", other.Role)
	if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "42501" {
		t.Fatalf("shard 1's runtime role takes shard 0's tenant role: got %v, want insufficient_privilege", err)
	}

	// The provisioning functions are the owner's alone: a runtime role
	// (one injected statement away from a tenant) can't call them.
	_, err = pool1.Exec(ctx, "SELECT condo_provision.p_0('create', 'x_tenant_999999', NULL, false)")
	if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "42501" {
		t.Fatalf("runtime role calls a provisioning function: got %v, want insufficient_privilege", err)
	}
	// And the owner can't make them touch a role that is not a tenant's.
	_, err = e.pool.Exec(ctx, "SELECT condo_provision.p_0('grant', $1, ARRAY[$2], false)", e.db.Role+"_prov_1", rt0)
	if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "42939" {
		t.Fatalf("provisioning function on a provisioning role: got %v, want reserved_name", err)
	}

	// Serve the existing tenants while new ones are created: every read
	// returns the reading tenant's rows, none fails.
	for _, ten := range tenants {
		if _, err := e.pool.Exec(ctx, "INSERT INTO "+ten.Schema+".hotel (name, city, stars) VALUES ($1, 'Rome', 3)", ten.Slug+" hotel"); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	var served int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ten := tenants[i%len(tenants)]
			var names []string
			err := pools.QueryTenant(condo.WithTenant(ctx, ten), func(rows pgx.Rows) error {
				var err error
				names, err = pgx.CollectRows(rows, pgx.RowTo[string])
				return err
			}, "SELECT name FROM hotel")
			if err == nil && (len(names) != 1 || names[0] != ten.Slug+" hotel") {
				err = fmt.Errorf("tenant %s read %q", ten.Slug, names)
			}
			if err != nil {
				errs <- err
				return
			}
			served++
		}
	}()
	var added []*condo.Tenant
	for i := range 6 {
		added = append(added, e.create(t, fmt.Sprintf("n%d", i)))
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatalf("serving while creating: %v", err)
	default:
	}
	t.Logf("%d reads served during 6 creations", served)
	for _, ten := range added {
		checkShardedTenant(t, e, ten, []string{rt0, rt1})
	}

	// Between transactions the owner is a member of no provisioning role.
	var held int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
		WHERE m.member = current_user::regrole AND m.grantor = current_user::regrole
		AND r.rolname LIKE current_user || '\_prov\_%'`).Scan(&held); err != nil || held != 0 {
		t.Fatalf("provisioning roles the owner holds after creating: %d, %v; want none", held, err)
	}
	// The provisioning roles took turns: each made half (PostgreSQL 16+
	// records the maker as the ADMIN OPTION's holder).
	var made [2]int
	if err := e.pool.QueryRow(ctx, `SELECT (SELECT roles FROM public.condo_provisioners WHERE shard = 0),
		(SELECT roles FROM public.condo_provisioners WHERE shard = 1)`).Scan(&made[0], &made[1]); err != nil || made != [2]int{5, 5} {
		t.Fatalf("tenant roles made per provisioning role: %v, %v; want [5 5]", made, err)
	}
	// Catch up a lost membership: the owner grants through the
	// provisioning role's ADMIN OPTION (16+) or its CREATEROLE (15).
	lost := added[0]
	rt := []string{rt0, rt1}[lost.ID%2]
	var admin string // the provisioning role that made it (16+), or none (15)
	if err := e.pool.QueryRow(ctx, `SELECT coalesce((SELECT m.member::regrole::text FROM pg_auth_members m
		WHERE m.roleid = $1::regrole AND m.admin_option LIMIT 1), current_user)`, lost.Role).Scan(&admin); err != nil {
		t.Fatal(err)
	}
	revoke := "REVOKE " + lost.Role + " FROM " + rt
	if admin != e.db.Role {
		revoke = "GRANT " + admin + " TO CURRENT_USER WITH SET TRUE; SET ROLE " + admin + "; " + revoke + "; RESET ROLE; REVOKE " + admin + " FROM CURRENT_USER"
	}
	if _, err := e.pool.Exec(ctx, revoke); err != nil {
		t.Fatal(err)
	}
	if res, err := condo.GrantRuntime(ctx, e.pool, rt, &condo.GrantRuntimeOpts{Shards: 2, Shard: int(lost.ID % 2)}); err != nil || res.TenantRoles != 1 {
		t.Fatalf("GrantRuntime catch-up: %+v, %v; want 1 tenant role", res, err)
	}
	checkShardedTenant(t, e, lost, []string{rt0, rt1})
	// Without Shards (serve's start-up grant) the recorded shard stays.
	if res, err := condo.GrantRuntime(ctx, e.pool, rt1, nil); err != nil || res.TenantRoles != 0 {
		t.Fatalf("GrantRuntime without shards: %+v, %v; want nothing granted", res, err)
	}
	for _, ten := range append(tenants, added...) {
		checkShardedTenant(t, e, ten, []string{rt0, rt1})
	}

	// Purge, in both shards.
	for _, ten := range tenants[:2] {
		if err := e.reg.Delete(ctx, ten.Slug, &condo.DeleteOpts{Purge: true}); err != nil {
			t.Fatalf("purge %s: %v", ten.Slug, err)
		}
		var exists bool
		if err := e.pool.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)", ten.Role).Scan(&exists); err != nil || exists {
			t.Fatalf("role of purged %s: exists %v, %v", ten.Slug, exists, err)
		}
	}
}

// checkShardedTenant asserts that ten's role is granted to its shard's
// runtime role alone, that the owner holds no membership of it, and that
// the tenant is served on its shard's runtime role.
func checkShardedTenant(t *testing.T, e *env, ten *condo.Tenant, runtimes []string) {
	t.Helper()
	ctx := t.Context()
	rows, err := e.pool.Query(ctx, `SELECT m.member::regrole::text FROM pg_auth_members m
		WHERE m.roleid = $1::regrole AND (m.set_option IS NULL OR m.set_option) ORDER BY 1`, ten.Role)
	if err != nil && strings.Contains(err.Error(), "set_option") {
		// PostgreSQL 15: no set_option, every membership may SET ROLE.
		rows, err = e.pool.Query(ctx, `SELECT m.member::regrole::text FROM pg_auth_members m
			WHERE m.roleid = $1::regrole ORDER BY 1`, ten.Role)
	}
	if err != nil {
		t.Fatal(err)
	}
	members, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := runtimes[ten.ID%int64(len(runtimes))]
	if len(members) != 1 || members[0] != want {
		t.Fatalf("tenant %s (id %d): members that may SET ROLE %v, want [%s]", ten.Slug, ten.ID, members, want)
	}
	var direct int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_auth_members WHERE roleid = $1::regrole AND member = current_user::regrole`, ten.Role).Scan(&direct); err != nil || direct != 0 {
		t.Fatalf("owner's memberships of %s: %d, %v; want none", ten.Slug, direct, err)
	}
}

// TestProvisionSingleRole: with provisioning roles and no runtime role
// (one role for everything), the owner is granted each tenant role, runs
// its transactions and purges it.
func TestProvisionSingleRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	ctx := t.Context()
	if _, err := condo.Provision(ctx, e.pool, 2); err != nil {
		t.Fatal(err)
	}
	for _, slug := range []string{"acme", "globex"} {
		ten := e.create(t, slug)
		err := e.reg.InTx(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ($1, 'Rome', 3)", slug)
			return err
		})
		if err != nil {
			t.Fatalf("tenant transaction of %s as the owner: %v", slug, err)
		}
		if err := e.reg.Delete(ctx, slug, &condo.DeleteOpts{Purge: true}); err != nil {
			t.Fatalf("purge %s: %v", slug, err)
		}
	}
}
