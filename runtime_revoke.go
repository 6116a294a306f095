package condo

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/pgident"
)

// revokeBatch bounds the memberships one transaction of [GrantRuntime]
// revokes: each REVOKE takes a lock on the membership and the commit
// resets every backend's cached memberships once, so a runtime role moved
// off 50,000 tenant roles gives them up in transactions of bounded size
// (and bounded lock lists) instead of one that holds them all.
const revokeBatch = 500

// revokeOutsideShardSQL reads up to $4 tenant roles (reserved ones
// included) that runtime role $1 is a member of but that are not in its
// shard ($2, $3; id % shards = shard), with the provisioning role that
// holds the ADMIN OPTION on each (16+ lets only the grantor revoke; the
// grants were made through its function), if any.
func revokeOutsideShardSQL() string {
	return `SELECT t.role_name, (` + adminProvisionerSQL("r.oid") + `)
	FROM ` + tenantRolesSQL + ` t
	JOIN pg_catalog.pg_roles r ON r.rolname = t.role_name
	WHERE t.id % $2 <> $3 AND EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
		WHERE m.roleid = r.oid AND m.member = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1))
	ORDER BY t.id LIMIT $4`
}

// revokeOutsideShard revokes from runtime role rt the tenant roles outside
// its shard, batchSize (revokeBatch) per transaction (one simple-protocol message
// each), and returns how many it revoked. The grants of the new shard are
// committed before (GrantRuntime), so the role serves its new tenants
// before it loses the old ones.
func revokeOutsideShard(ctx context.Context, db DBTX, rt string, shards, shard, batchSize int) (int, error) {
	if shards == 0 {
		return 0, nil
	}
	n := 0
	prev := ""
	q := revokeOutsideShardSQL()
	for {
		rows, err := db.Query(ctx, q, rt, shards, shard, batchSize)
		if err != nil {
			return n, err
		}
		type revoke struct {
			role string
			prov *int
		}
		batch, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (revoke, error) {
			var r revoke
			err := row.Scan(&r.role, &r.prov)
			return r, err
		})
		if err != nil {
			return n, err
		}
		if len(batch) == 0 {
			return n, nil
		}
		if batch[0].role == prev {
			// The last batch left it: granted by a role that neither the
			// owner nor the provisioning role may revoke for (16+
			// revokes only the grantor's grant).
			return n, fmt.Errorf("tenant role %q: membership not revoked (granted by another role?)", prev)
		}
		prev = batch[0].role
		var b strings.Builder
		for _, r := range batch {
			if err := pgident.Validate("role", r.role); err != nil {
				return n, err
			}
			if r.prov != nil {
				b.WriteString(provisionCallSQL(*r.prov, "revoke", r.role, textArraySQL([]string{rt}), false))
				continue
			}
			b.WriteString("REVOKE " + pgident.Quote(r.role) + " FROM " + pgident.Quote(rt) + ";\n")
		}
		if _, err := db.Exec(ctx, b.String()); err != nil {
			return n, err
		}
		n += len(batch)
	}
}
