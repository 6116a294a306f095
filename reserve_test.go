package condo_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

// reserved is a row of the role reserve.
type reserved struct {
	ID   int64
	Role string
}

// reservedRoles returns the role reserve, by id.
func reservedRoles(t testing.TB, pool *pgxpool.Pool) []reserved {
	t.Helper()
	rows, _ := pool.Query(t.Context(), "SELECT id, role_name FROM public.condo_role_reserve ORDER BY id")
	rs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[reserved])
	if err != nil {
		t.Fatalf("role reserve: %v", err)
	}
	return rs
}

func reserve(t testing.TB, reg *condo.Registry, n int) condo.ReserveResult {
	t.Helper()
	res, err := reg.ReserveRoles(t.Context(), n)
	if err != nil {
		t.Fatalf("ReserveRoles(%d): %v (%+v)", n, err, res)
	}
	return res
}

// setMembers returns the roles other than the owner that may SET ROLE to
// role directly.
func setMembers(t testing.TB, pool *pgxpool.Pool, role string) []string {
	t.Helper()
	q := `SELECT m.member::regrole::text FROM pg_auth_members m
		WHERE m.roleid = $1::regrole AND m.member <> current_user::regrole AND %s ORDER BY 1`
	rows, err := pool.Query(t.Context(), fmt.Sprintf(q, "(m.set_option IS NULL OR m.set_option)"), role)
	if err != nil && strings.Contains(err.Error(), "set_option") {
		// PostgreSQL 15: no set_option, every membership may SET ROLE.
		rows, err = pool.Query(t.Context(), fmt.Sprintf(q, "true"), role)
	}
	if err != nil {
		t.Fatal(err)
	}
	members, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return members
}

// catalogState fingerprints pg_authid and pg_auth_members (every row with
// its xmin: an insert, update or delete changes it) as a superuser.
func catalogState(t testing.TB, admin *pgx.Conn) string {
	t.Helper()
	var s string
	if err := admin.QueryRow(t.Context(), `SELECT
		(SELECT count(*) || '/' || max(oid::text::bigint) || '/' || md5(string_agg(oid::text || ':' || xmin::text, ',' ORDER BY oid)) FROM pg_authid)
		|| ' ' ||
		(SELECT count(*) || '/' || md5(string_agg(roleid::text || ':' || member::text || ':' || xmin::text, ',' ORDER BY roleid, member, xmin::text)) FROM pg_auth_members)`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRoleReserve runs tenant creation from the role reserve on a private
// cluster (so that nothing else changes its roles), with two runtime
// shards, with and without provisioning roles.
func TestRoleReserve(t *testing.T) {
	t.Parallel()
	cl := condotest.NewCluster(t)
	for _, provisioners := range []int{0, 2} {
		// Not parallel: the catalog checks need the cluster to themselves.
		t.Run(fmt.Sprintf("provisioners=%d", provisioners), func(t *testing.T) {
			testRoleReserve(t, cl, provisioners)
		})
	}
}

func testRoleReserve(t *testing.T, cl *condotest.Cluster, provisioners int) {
	e := newEnv(t, nil, &condotest.DatabaseOpts{Runtime: true, Cluster: cl})
	ctx := t.Context()
	rt0 := e.db.RuntimeRole
	rt1 := rt0 + "_1"
	if _, err := e.pool.Exec(ctx, "CREATE ROLE "+rt1+" LOGIN NOINHERIT"); err != nil {
		t.Fatal(err)
	}
	if provisioners > 0 {
		if _, err := condo.Provision(ctx, e.pool, provisioners); err != nil {
			t.Fatal(err)
		}
	}
	runtimes := []string{rt0, rt1}
	for k, rt := range runtimes {
		if _, err := condo.GrantRuntime(ctx, e.pool, rt, &condo.GrantRuntimeOpts{Shards: 2, Shard: k}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := e.db.RuntimePool.Config().Copy()
	cfg.ConnConfig.User = rt1
	pool1, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool1.Close)
	reg := condo.NewRegistry(e.pool, e.migrator, &condo.RegistryConfig{Logger: condotest.Logger(t),
		TenantPools: condo.NewTenantPoolsOf(e.db.RuntimePool, pool1)})
	admin, err := pgx.Connect(ctx, cl.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close(context.Background()) })

	// Reserved roles are made as Create makes a tenant's: granted to
	// their shard's runtime role alone.
	if got := reserve(t, reg, 5); got != (condo.ReserveResult{Made: 5}) {
		t.Fatalf("ReserveRoles(5): %+v, want 5 made", got)
	}
	if got := reserve(t, reg, 5); got != (condo.ReserveResult{}) {
		t.Fatalf("ReserveRoles(5) again: %+v, want nothing done", got)
	}
	rs := reservedRoles(t, e.pool)
	if len(rs) != 5 {
		t.Fatalf("reserve: %v, want 5 roles", rs)
	}
	for _, r := range rs {
		if want := fmt.Sprintf("%s_tenant_%d", e.db.Role, r.ID); r.Role != want {
			t.Fatalf("reserved role %q, want %q", r.Role, want)
		}
		if got, want := setMembers(t, e.pool, r.Role), []string{runtimes[r.ID%2]}; !slices.Equal(got, want) {
			t.Fatalf("reserved role %s: members that may SET ROLE %v, want %v", r.Role, got, want)
		}
		// With provisioning roles the owner holds none of them.
		var owner int
		if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_auth_members WHERE roleid = $1::regrole
			AND member = current_user::regrole`, r.Role).Scan(&owner); err != nil || (provisioners > 0) != (owner == 0) {
			t.Fatalf("reserved role %s: the owner's memberships %d, %v (provisioning roles: %d)", r.Role, owner, err, provisioners)
		}
	}
	// The larger shard's 3, or the owner's 5 when it is a member of all
	// (no provisioning roles).
	if s, err := reg.RoleShares(ctx); err != nil || s.Reserved != 5 || s.MaxSet != map[bool]int{true: 3, false: 5}[provisioners > 0] {
		t.Fatalf("RoleShares: %+v, %v; want 5 reserved counted", s, err)
	}

	// Create takes them in id order and, doing so, changes neither
	// pg_authid nor pg_auth_members (no backend's memberships reset);
	// the full path does.
	var tenants []*condo.Tenant
	for i := range 3 {
		before := catalogState(t, admin)
		ten, err := reg.Create(ctx, condo.CreateParams{Slug: fmt.Sprintf("r%d", i), Name: "R"})
		if err != nil {
			t.Fatal(err)
		}
		if after := catalogState(t, admin); after != before {
			t.Fatalf("creation from the reserve changed the role catalogs: %s, then %s", before, after)
		}
		if ten.ID != rs[i].ID || ten.Role != rs[i].Role {
			t.Fatalf("tenant %s: id %d role %s, want the reserve's %+v", ten.Slug, ten.ID, ten.Role, rs[i])
		}
		tenants = append(tenants, ten)
	}
	if got := reservedRoles(t, e.pool); !cmp.Equal(got, rs[3:]) {
		t.Fatalf("reserve after 3 creations: %v, want %v", got, rs[3:])
	}

	// A failed creation leaves its row; concurrent ones take distinct rows.
	_, err = reg.Create(ctx, condo.CreateParams{Slug: "boom", Name: "Boom", OnCreated: func(context.Context, pgx.Tx, *condo.Tenant) error {
		return errors.New("boom")
	}})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("create with a failing hook: %v", err)
	}
	if got := reservedRoles(t, e.pool); !cmp.Equal(got, rs[3:]) {
		t.Fatalf("reserve after a failed creation: %v, want %v", got, rs[3:])
	}
	var wg sync.WaitGroup
	made := make([]*condo.Tenant, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			made[i], errs[i] = reg.Create(ctx, condo.CreateParams{Slug: fmt.Sprintf("c%d", i), Name: "C"})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	ids := []int64{made[0].ID, made[1].ID}
	slices.Sort(ids)
	if want := []int64{rs[3].ID, rs[4].ID}; !slices.Equal(ids, want) {
		t.Fatalf("concurrent creations took %v, want %v", ids, want)
	}
	tenants = append(tenants, made...)

	// The reserve is empty: the full path, which does change them.
	before := catalogState(t, admin)
	full, err := reg.Create(ctx, condo.CreateParams{Slug: "full", Name: "Full"})
	if err != nil {
		t.Fatal(err)
	}
	if catalogState(t, admin) == before {
		t.Fatal("a creation that made its role left the role catalogs unchanged: the check sees nothing")
	}
	tenants = append(tenants, full)

	// Every tenant is served by its shard's runtime role, which can't
	// read another tenant of its shard nor take the other shard's role.
	for _, ten := range tenants {
		if got, want := setMembers(t, e.pool, ten.Role), []string{runtimes[ten.ID%2]}; !slices.Equal(got, want) {
			t.Fatalf("tenant %s: members that may SET ROLE %v, want %v", ten.Slug, got, want)
		}
		if n := hotelCount(t, reg, ten); n != 1 {
			t.Fatalf("%s: %d hotels, want 1", ten.Slug, n)
		}
	}
	for _, a := range tenants {
		for _, b := range tenants {
			if a == b || a.ID%2 != b.ID%2 {
				continue
			}
			err := reg.InTx(ctx, a, func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, "SELECT * FROM "+pgx.Identifier{b.Schema, "hotel"}.Sanitize())
				return err
			})
			if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "42501" {
				t.Fatalf("tenant %s reads %s's hotels: got %v, want insufficient_privilege", a.Slug, b.Slug, err)
			}
		}
		other := e.db.RuntimePool
		if a.ID%2 == 0 {
			other = pool1
		}
		_, err := other.Exec(ctx, "SELECT set_config('role', $1, true)", a.Role)
		if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "42501" {
			t.Fatalf("the other shard's runtime role takes %s's role: got %v, want insufficient_privilege", a.Slug, err)
		}
	}

	// A reserved role dropped behind Condo's back is skipped by Create
	// and forgotten by the next fill.
	reserve(t, reg, 3)
	rs = reservedRoles(t, e.pool)
	if _, err := admin.Exec(ctx, "DROP ROLE "+pgx.Identifier{rs[0].Role}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	ten, err := reg.Create(ctx, condo.CreateParams{Slug: "skip", Name: "Skip"})
	if err != nil || ten.ID != rs[1].ID {
		t.Fatalf("create past a dropped reserved role: %+v, %v; want tenant %d", ten, err, rs[1].ID)
	}
	if got := reserve(t, reg, 1); got != (condo.ReserveResult{}) {
		t.Fatalf("ReserveRoles(1) with one left and one gone: %+v, want nothing done", got)
	}
	if got := reservedRoles(t, e.pool); !cmp.Equal(got, rs[2:]) {
		t.Fatalf("reserve after the fill: %v, want %v", got, rs[2:])
	}

	// A runtime role moved to another shard gets and loses reserved
	// roles as tenants' (GrantRuntime reads both).
	reserve(t, reg, 4)
	rs = reservedRoles(t, e.pool)
	if _, err := condo.GrantRuntime(ctx, e.pool, rt0, &condo.GrantRuntimeOpts{Shards: 2, Shard: 1}); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		// Shard 0 is served by no runtime role now.
		want := []string{}
		if r.ID%2 == 1 {
			want = []string{rt0, rt1}
		}
		if got := setMembers(t, e.pool, r.Role); !slices.Equal(got, want) {
			t.Fatalf("reserved role %s (id %d) after rt0 moved to shard 1: members %v, want %v", r.Role, r.ID, got, want)
		}
	}
	if _, err := condo.GrantRuntime(ctx, e.pool, rt0, &condo.GrantRuntimeOpts{Shards: 2, Shard: 0}); err != nil {
		t.Fatal(err)
	}

	// Shrinking drops roles and rows, the highest ids first.
	if got := reserve(t, reg, 1); got != (condo.ReserveResult{Dropped: 3}) {
		t.Fatalf("shrink to 1: %+v, want 3 dropped", got)
	}
	if got := reservedRoles(t, e.pool); !cmp.Equal(got, rs[:1]) {
		t.Fatalf("reserve after shrinking to 1: %v, want %v", got, rs[:1])
	}
	if got := reserve(t, reg, 0); got != (condo.ReserveResult{Dropped: 1}) {
		t.Fatalf("shrink to 0: %+v, want 1 dropped", got)
	}
	var left int
	if err := e.pool.QueryRow(ctx, "SELECT count(*) FROM pg_roles WHERE rolname = ANY($1)",
		[]string{rs[0].Role, rs[1].Role, rs[2].Role, rs[3].Role}).Scan(&left); err != nil || left != 0 {
		t.Fatalf("reserved roles left after shrinking to 0: %d, %v", left, err)
	}
	if s, err := reg.RoleShares(ctx); err != nil || s.Reserved != 0 {
		t.Fatalf("RoleShares after shrinking: %+v, %v; want none reserved", s, err)
	}
}

// TestRoleReserveRunner: a RoleReserve refills only below its low
// watermark, and Run refills after creations that took reserved roles.
func TestRoleReserveRunner(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	ctx := t.Context()
	rv := condo.NewRoleReserve(e.reg, &condo.RoleReserveConfig{Size: 4, Logger: condotest.Logger(t)})
	if got, err := rv.Fill(ctx); err != nil || got != (condo.ReserveResult{Made: 4}) {
		t.Fatalf("first fill: %+v, %v; want 4 made", got, err)
	}
	e.create(t, "a")
	e.create(t, "b")
	if got, err := rv.Fill(ctx); err != nil || got != (condo.ReserveResult{}) {
		t.Fatalf("fill at 2 of 4: %+v, %v; want nothing (not below half)", got, err)
	}
	e.create(t, "c")
	if got, err := rv.Fill(ctx); err != nil || got != (condo.ReserveResult{Made: 3}) {
		t.Fatalf("fill at 1 of 4: %+v, %v; want 3 made", got, err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rv.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	for _, slug := range []string{"d", "e", "f"} {
		e.create(t, slug)
	}
	condotest.WaitFor(t, 30*time.Second, "the reserve refilled to 4", func() bool {
		return len(reservedRoles(t, e.pool)) == 4
	})
	if got := condo.NewRoleReserve(e.reg, nil).Size(); got != 0 {
		t.Fatalf("nil config: size %d", got)
	}
}

// TestRoleReservePgBouncer: filling the reserve, creations and pending
// tenants (made through Create) take reserved roles through PgBouncer in
// transaction mode.
func TestRoleReservePgBouncer(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	bouncer := condotest.NewPgBouncer(t, db, &condotest.PgBouncerOpts{PoolSize: 2})
	pool := bouncer.Pool(t, 4)
	m, err := condomigrate.New(db.Pool, &condomigrate.Config{Tenant: condotest.HotelMigrations(), Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	reg := condo.NewRegistry(pool, m, &condo.RegistryConfig{Logger: condotest.Logger(t)})
	if got := reserve(t, reg, 4); got.Made != 4 {
		t.Fatalf("ReserveRoles through PgBouncer: %+v", got)
	}
	rs := reservedRoles(t, db.Pool)
	fill(t, reg, 2)
	if got := pendingIDs(t, db.Pool); !slices.Equal(got, []int64{rs[0].ID, rs[1].ID}) {
		t.Fatalf("pending tenants %v, want the reserve's first two (%v)", got, rs[:2])
	}
	// A claim takes a pending tenant; with none left, the reserve.
	for i, want := range []int64{rs[0].ID, rs[1].ID, rs[2].ID} {
		ten, err := reg.Create(t.Context(), condo.CreateParams{Slug: fmt.Sprintf("p%d", i), Name: "P"})
		if err != nil || ten.ID != want {
			t.Fatalf("create %d: %+v, %v; want tenant %d", i, ten, err, want)
		}
		if n := hotelCount(t, reg, ten); n != 1 {
			t.Fatalf("%s: %d hotels", ten.Slug, n)
		}
	}
	if got := reserve(t, reg, 0); got != (condo.ReserveResult{Dropped: 1}) {
		t.Fatalf("shrink through PgBouncer: %+v", got)
	}
}

// TestRoleReserveCitus: refused on Citus, where Create keeps making roles.
func TestRoleReserveCitus(t *testing.T) {
	t.Parallel()
	e := newCitusEnv(t, nil)
	if _, err := e.reg.ReserveRoles(t.Context(), 2); !errors.Is(err, condo.ErrRoleReserveUnsupported) {
		t.Fatalf("ReserveRoles on Citus: %v, want ErrRoleReserveUnsupported", err)
	}
	if _, err := condo.NewRoleReserve(e.reg, &condo.RoleReserveConfig{Size: 2}).Fill(t.Context()); !errors.Is(err, condo.ErrRoleReserveUnsupported) {
		t.Fatalf("RoleReserve.Fill on Citus: %v, want ErrRoleReserveUnsupported", err)
	}
}
