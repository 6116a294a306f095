package condo_test

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condotest"
)

// TestRuntimeShardMove moves a runtime role to another shard: GrantRuntime
// grants it the new shard's tenant roles and revokes the old shard's
// (through the provisioning functions that made them, in batches), so it
// holds exactly its new share; Provision first replaces a provisioning
// function made by an older version (one without the revoke).
func TestRuntimeShardMove(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, &condotest.DatabaseOpts{Runtime: true})
	ctx := t.Context()
	rt0 := e.db.RuntimeRole
	rt1 := rt0 + "_1"
	if _, err := e.pool.Exec(ctx, "CREATE ROLE "+rt1+" LOGIN NOINHERIT"); err != nil {
		t.Fatal(err)
	}
	if _, err := condo.Provision(ctx, e.pool, 2); err != nil {
		t.Fatal(err)
	}
	tenants := []*condo.Tenant{}
	for i := range 7 {
		tenants = append(tenants, e.create(t, fmt.Sprintf("m%d", i)))
	}
	for k, rt := range []string{rt0, rt1} {
		if _, err := condo.GrantRuntime(ctx, e.pool, rt, &condo.GrantRuntimeOpts{Shards: 2, Shard: k}); err != nil {
			t.Fatal(err)
		}
	}
	checkShare(t, e, rt0, tenants, 2, 0)

	// Provisioning functions of an older Condo (no "revoke"): Provision
	// replaces them, as their owner, and the owner holds no
	// provisioning role afterwards.
	cfg, err := pgx.ParseConfig(condotest.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = e.db.Name
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for k := range 2 {
		if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE OR REPLACE FUNCTION condo_provision.p_%d(op text, ro text, grantees text[], login boolean)
			RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $f$ BEGIN RAISE EXCEPTION 'old'; END $f$`, k)); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := condo.Provision(ctx, e.pool, 2); err != nil || res.Upgraded != 2 || res.Created != 0 {
		t.Fatalf("Provision over old functions: %+v, %v; want 2 upgraded, none made", res, err)
	}
	if res, err := condo.Provision(ctx, e.pool, 2); err != nil || res.Upgraded != 0 {
		t.Fatalf("Provision again: %+v, %v; want nothing upgraded", res, err)
	}
	var held, owned int
	if err := e.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
			WHERE m.member = current_user::regrole AND m.grantor = current_user::regrole AND r.rolname LIKE current_user || '\_prov\_%'),
		(SELECT count(*) FROM pg_proc f JOIN pg_roles r ON r.oid = f.proowner
			WHERE f.pronamespace = 'condo_provision'::regnamespace AND r.rolname = current_user || '_prov_' || substr(f.proname, 3))`).Scan(&held, &owned); err != nil || held != 0 || owned != 2 {
		t.Fatalf("after the upgrade: owner holds %d provisioning roles, %d functions owned by their role, %v; want 0 and 2", held, owned, err)
	}

	// rt0 moves from shard 0 to shard 1 of 2, in batches of 2.
	res, err := condo.GrantRuntime(ctx, e.pool, rt0, &condo.GrantRuntimeOpts{Shards: 2, Shard: 1})
	if err != nil {
		t.Fatal(err)
	}
	odd, even := 0, 0
	for _, ten := range tenants {
		if ten.ID%2 == 1 {
			odd++
		} else {
			even++
		}
	}
	if res.TenantRoles != odd || res.Revoked != even {
		t.Fatalf("move rt0 to shard 1: %+v; want %d granted, %d revoked", res, odd, even)
	}
	checkShare(t, e, rt0, tenants, 2, 1)
	// And back; then to all tenants (nothing to revoke) and to a shard
	// of 4, revoking in batches of 2 (several transactions).
	if _, err := condo.GrantRuntime(ctx, e.pool, rt0, &condo.GrantRuntimeOpts{Shards: 2, Shard: 0}); err != nil {
		t.Fatal(err)
	}
	checkShare(t, e, rt0, tenants, 2, 0)
	if _, err := condo.GrantRuntime(ctx, e.pool, rt0, &condo.GrantRuntimeOpts{Shards: 1, Shard: 0}); err != nil {
		t.Fatal(err)
	}
	checkShare(t, e, rt0, tenants, 1, 0)
	if n, err := condo.RevokeOutsideShard(ctx, e.pool, rt0, 4, 3, 2); err != nil || n != len(tenants)-countShard(tenants, 4, 3) {
		t.Fatalf("RevokeOutsideShard in batches of 2: %d, %v; want %d", n, err, len(tenants)-countShard(tenants, 4, 3))
	}
	checkShare(t, e, rt0, tenants, 4, 3)
	// rt1 was never moved: still its share.
	checkShare(t, e, rt1, tenants, 2, 1)
}

// countShard is how many of tenants are in shard of shards.
func countShard(tenants []*condo.Tenant, shards, shard int64) int {
	n := 0
	for _, ten := range tenants {
		if ten.ID%shards == shard {
			n++
		}
	}
	return n
}

// checkShare asserts that runtime role rt is a member of exactly the
// tenant roles of tenants in shard of shards.
func checkShare(t *testing.T, e *env, rt string, tenants []*condo.Tenant, shards, shard int64) {
	t.Helper()
	for _, ten := range tenants {
		var member bool
		if err := e.pool.QueryRow(t.Context(), `SELECT EXISTS (SELECT FROM pg_auth_members
			WHERE roleid = $1::regrole AND member = $2::regrole)`, ten.Role, rt).Scan(&member); err != nil {
			t.Fatal(err)
		}
		if want := ten.ID%shards == shard; member != want {
			t.Fatalf("%s a member of %s (id %d): %v, want %v (shard %d of %d)", rt, ten.Role, ten.ID, member, want, shard, shards)
		}
	}
}
