package condo

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// rowQuerier is a pool, a connection or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// citusVersion returns the citus extension's version in the registry's
// database, or "" when it is not a Citus coordinator. Read once, through q:
// inside a transaction, pass the transaction, so that a pool of one
// connection does not wait for a second.
func (r *Registry) citusVersion(ctx context.Context, q rowQuerier) (string, error) {
	r.prefixMu.Lock()
	defer r.prefixMu.Unlock()
	if r.citusRead {
		return r.citus, nil
	}
	err := q.QueryRow(ctx, "SELECT COALESCE((SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'citus'), '')").Scan(&r.citus)
	if err != nil {
		return "", fmt.Errorf("detect citus: %w", err)
	}
	r.citusRead = true
	return r.citus, nil
}

// citusCreatePrefix starts a tenant's creation on Citus: its schema
// becomes a distributed schema (a shard group Citus places on a worker and
// can move) whatever the cluster's default for schema-based sharding.
func citusCreatePrefix(citus string) string {
	if citus == "" {
		return ""
	}
	return "SET LOCAL citus.enable_schema_based_sharding TO on;\n"
}

// citusRoleLogin is the login attribute of a new tenant role. Citus runs a
// distributed query on the workers over a connection of the current role,
// which inside a tenant transaction is the tenant's (SET LOCAL ROLE): on
// Citus the role must be allowed to log in, or every query of a tenant
// table fails with `role "…" is not permitted to log in`. It gets no
// password, so it can log in only where pg_hba.conf lets it in without one:
// the workers, from the coordinator (README, "Scaling out").
func citusRoleLogin(citus string) string {
	if citus == "" {
		return " NOLOGIN"
	}
	return " LOGIN"
}
