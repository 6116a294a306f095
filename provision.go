package condo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/condo-dev/condo/internal/pgident"
)

// ErrTooManyShards is returned by [Provision] and [GrantRuntime] for a
// shard count above [MaxShards].
var ErrTooManyShards = errors.New("too many shards")

// MaxShards bounds the provisioning roles and runtime shards: 1,024 shards
// of 1,000 tenants each is a million tenants, far past one cluster.
const MaxShards = 1024

// ProvisionerName is the name of the provisioning role of shard k made by
// owner: "<owner>_prov_<k>".
func ProvisionerName(owner string, k int) (string, error) {
	name := owner + "_prov_" + strconv.Itoa(k)
	if err := pgident.ValidateGiven("role", name); err != nil {
		return "", err
	}
	return name, nil
}

// ProvisionResult says what [Provision] made.
type ProvisionResult struct {
	// Created is how many provisioning roles were made now.
	Created int
	// Total is how many there are, made now or before.
	Total int
}

// Provision makes n provisioning roles (NOLOGIN CREATEROLE, named by
// [ProvisionerName]) as the owner, the role db connects as, and records them in the registry: from then on [Registry.Create]
// creates each tenant role as the provisioning role that made the fewest,
// whichever process creates it, so roles added later take the new
// tenants until they hold as many as the others.
//
// Why: PostgreSQL 16 and later make the creator of a role (a CREATEROLE
// role that is not a superuser: the managed-database set-up) a member of
// it WITH ADMIN OPTION, and checking that option walks all of the
// creator's memberships, so with one creating role the cost of each new
// tenant grows with the number of tenants (issue 15: 11 ms each for the
// first 5,000, 49 ms for the next 5,000). Spread over n creators, each
// holds only its share. With provisioning roles the owner is no longer a
// member of the tenant roles that runtime roles serve (see [GrantRuntime]),
// which keeps its own membership list (recomputed by every backend after
// each GRANT) short too.
//
// It only adds: with m roles recorded already it makes m…n-1, and never
// removes one (tenant roles stay administered by the role that made them).
// Each should make at most about 1,000 tenant roles on PostgreSQL 16+
// (doctor's "tenant roles" check): n = tenants expected / 1,000.
// Run it as the owner; it can run again.
//
// Returns [ErrTooManyShards] when n > [MaxShards], a [*NameError] when the
// owner's name leaves no room for the suffix, and the database's error
// otherwise (e.g. the owner lacks CREATEROLE).
func Provision(ctx context.Context, db DBTX, n int) (*ProvisionResult, error) {
	if n < 1 || n > MaxShards {
		return nil, fmt.Errorf("provision %d roles: %w (1 to %d)", n, ErrTooManyShards, MaxShards)
	}
	var owner string
	var have int
	err := db.QueryRow(ctx, `SELECT current_user, (SELECT count(*) FROM public.condo_provisioners)`).Scan(&owner, &have)
	if err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	res := &ProvisionResult{Total: max(have, n)}
	if have >= n {
		return res, nil
	}
	var b strings.Builder
	for k := have; k < n; k++ {
		name, err := ProvisionerName(owner, k)
		if err != nil {
			return nil, err
		}
		// The owner is not made a member: it becomes one for the length
		// of one transaction at a time ([asProvisionerSQL]).
		b.WriteString("CREATE ROLE " + pgident.Quote(name) + " NOLOGIN NOINHERIT CREATEROLE;\n" +
			"INSERT INTO public.condo_provisioners (shard, role_name) VALUES (" + strconv.Itoa(k) + ", " + quoteLiteral(name) + ");\n")
		res.Created++
	}
	// One simple-protocol message: one implicit transaction.
	if _, err := db.Exec(ctx, b.String()); err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	return res, nil
}

// provisionerCTE picks the provisioning role of a new tenant: the one
// that made the fewest tenant roles, counted up in the same statement.
// SKIP LOCKED: concurrent creations take different ones instead of
// queueing on one row; when all are taken, provisionerFallbackSQL picks
// one by id without counting (the count only balances, the cost follows
// pg_auth_members).
const provisionerCTE = `p AS (SELECT p.shard FROM public.condo_provisioners p
		JOIN pg_catalog.pg_roles r ON r.rolname = p.role_name
		ORDER BY p.roles, p.shard LIMIT 1 FOR UPDATE OF p SKIP LOCKED),
	pu AS (UPDATE public.condo_provisioners c SET roles = c.roles + 1 FROM p WHERE c.shard = p.shard RETURNING c.role_name)`

// provisionerSQL is a scalar subquery for Create's RETURNING (with
// provisionerCTE): the provisioning role of the new tenant
// (condo_tenants.id), or NULL when there is none.
const provisionerSQL = `SELECT coalesce((SELECT role_name FROM pu), (SELECT p.role_name FROM public.condo_provisioners p
	JOIN pg_catalog.pg_roles r ON r.rolname = p.role_name
	WHERE p.shard = condo_tenants.id % nullif((SELECT count(*) FROM public.condo_provisioners), 0)))`

// asProvisionerSQL wraps sql (statements, each ending in ";\n") so that it
// runs as provisioning role prov (quoted) inside the caller's transaction:
// the owner grants itself prov, takes it, and gives it back before the
// transaction ends.
//
// Why not a standing membership: PostgreSQL computes the owner's
// memberships for every SET ROLE after any GRANT in the cluster, walking
// each role it may SET ROLE to and that role's own memberships. A member
// of every provisioning role would walk every tenant role's ADMIN row, on
// each creation: 90 ms at 100,000 tenants on PostgreSQL 18 (BENCHMARKS.md).
// Held for one transaction, it walks one provisioning role's share. The
// owner may grant it: it created prov (the ADMIN OPTION on 16+,
// CREATEROLE on 15).
func asProvisionerSQL(serverNum int, prov, sql string) string {
	member := ""
	if serverNum >= 160000 {
		member = " WITH INHERIT FALSE, SET TRUE"
	}
	return "GRANT " + prov + " TO CURRENT_USER" + member + ";\n" +
		"SET LOCAL ROLE " + prov + ";\n" + sql +
		"SET LOCAL ROLE NONE;\n" +
		"REVOKE " + prov + " FROM CURRENT_USER;\n"
}

// adminProvisionerSQL finds the provisioning role that holds the ADMIN
// OPTION on tenant role $1 (it created it), if any: PostgreSQL 16+ lets
// only a role's admins drop it.
const adminProvisionerSQL = `SELECT p.role_name FROM public.condo_provisioners p
	JOIN pg_catalog.pg_roles pr ON pr.rolname = p.role_name
	JOIN pg_catalog.pg_roles tr ON tr.rolname = $1
	JOIN pg_catalog.pg_auth_members m ON m.member = pr.oid AND m.roleid = tr.oid AND m.admin_option
	ORDER BY p.shard LIMIT 1`
