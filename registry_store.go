package condo

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/condomigrate"
)

// The registry is the migrator's [condomigrate.TenantStore]: the fleet
// migrator learns which tenants are behind, and records each one's new
// version, through these methods, never by reading the registry's tables.
var (
	_ condomigrate.TenantStore     = (*Registry)(nil)
	_ condomigrate.TenantDatabases = (*Registry)(nil)
)

// TenantsBehind returns, by id, the tenants that are not deleted (only the
// one named slug, when slug is not empty) whose migration version is below
// version, and counts those at or above it: the fleet migrator's question,
// answered by an indexed count and an indexed list. Returns [ErrTenantNotFound] (wrapped) when
// slug names no tenant that is not deleted. It implements
// [condomigrate.TenantStore]; pass the registry to
// [condomigrate.Migrator.MigrateTenants].
func (r *Registry) TenantsBehind(ctx context.Context, version int64, slug string) ([]condomigrate.TenantVersion, int, error) {
	var upToDate int
	if err := r.pool.QueryRow(ctx, `SELECT count(*) FROM public.condo_tenants
		WHERE status <> 'deleted' AND ($2 = '' OR slug = $2) AND migration_version >= $1`, version, slug).Scan(&upToDate); err != nil {
		return nil, 0, fmt.Errorf("count tenants at %d: %w", version, err)
	}
	rows, err := r.pool.Query(ctx, `SELECT id, slug, schema_name, migration_version, COALESCE(server, ''), COALESCE(database_name, ''), status = 'pending' FROM public.condo_tenants
		WHERE status <> 'deleted' AND ($2 = '' OR slug = $2) AND migration_version < $1 ORDER BY id`, version, slug)
	if err != nil {
		return nil, 0, fmt.Errorf("tenants behind %d: %w", version, err)
	}
	var behind []condomigrate.TenantVersion
	var t condomigrate.TenantVersion
	if _, err := pgx.ForEachRow(rows, []any{&t.ID, &t.Slug, &t.Schema, &t.Version, &t.Server, &t.Database, &t.Pending}, func() error {
		behind = append(behind, t)
		return nil
	}); err != nil {
		return nil, 0, fmt.Errorf("tenants behind %d: %w", version, err)
	}
	if slug != "" && len(behind) == 0 && upToDate == 0 {
		return nil, 0, fmt.Errorf("tenant %q: %w", slug, ErrTenantNotFound)
	}
	return behind, upToDate, nil
}

// LockTenantVersionTx locks the registry row of tenant id in tx and records
// version as its migration version, in one round trip, to commit or roll
// back with the migration tx applies. It returns the tenant as it was; ok
// is false, and nothing changes, when the tenant is no longer behind
// version (purged, deleted, or migrated since). It implements
// [condomigrate.TenantStore].
func (r *Registry) LockTenantVersionTx(ctx context.Context, tx pgx.Tx, id, version int64) (condomigrate.TenantVersion, bool, error) {
	t := condomigrate.TenantVersion{ID: id}
	err := tx.QueryRow(ctx, `
		WITH old AS (SELECT id, slug, schema_name, migration_version, server, database_name FROM public.condo_tenants
		             WHERE id = $1 AND status <> 'deleted' FOR UPDATE)
		UPDATE public.condo_tenants t SET migration_version = $2, updated_at = now()
		FROM old WHERE t.id = old.id AND old.migration_version < $2
		RETURNING old.slug, old.schema_name, old.migration_version, COALESCE(old.server, ''), COALESCE(old.database_name, '')`,
		id, version).Scan(&t.Slug, &t.Schema, &t.Version, &t.Server, &t.Database)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, false, nil
	}
	if err != nil {
		return t, false, fmt.Errorf("lock tenant %d: %w", id, err)
	}
	// A tenant moving between tiers is not migrated: the move made its
	// target at the version it read, and Copy would not see a column
	// added since. A statement of its own, so that its snapshot (taken
	// after the row lock was granted) sees a move that committed while
	// this run waited for the lock.
	var moving bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM public.condo_tier_moves WHERE tenant_id = $1 AND phase <> 'switched')`,
		id).Scan(&moving); err != nil {
		return t, false, fmt.Errorf("lock tenant %d: %w", id, err)
	}
	if moving {
		return t, false, fmt.Errorf("tenant %q: %w (migrate it after the move)", t.Slug, ErrMoveInProgress)
	}
	return t, true, nil
}

// InTenantDatabaseTx runs fn in a transaction on database-tier tenant
// t's database, as the owner of the server it is on, and commits it when
// fn returns nil. It implements [condomigrate.TenantDatabases].
func (r *Registry) InTenantDatabaseTx(ctx context.Context, t condomigrate.TenantVersion, fn func(tx pgx.Tx) error) error {
	conn, err := r.tier.connectAs(ctx, t.Server, t.Database)
	if err != nil {
		return fmt.Errorf("tenant %q: %w", t.Slug, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return pgx.BeginFunc(ctx, conn, fn)
}

// setVersionTx records a tenant's migration version in tx (an import,
// which migrates past the version its creation recorded).
func setVersionTx(ctx context.Context, tx pgx.Tx, id, version int64) error {
	if _, err := tx.Exec(ctx, "UPDATE public.condo_tenants SET migration_version = $2, updated_at = now() WHERE id = $1", id, version); err != nil {
		return fmt.Errorf("record tenant %d at version %d: %w", id, version, err)
	}
	return nil
}

// recentTenantRows returns up to limit tenants, newest first, as rows of
// tenantColumns for scanTenant: the resolver's cache preload.
func (r *Registry) recentTenantRows(ctx context.Context, limit int) (pgx.Rows, error) {
	return r.pool.Query(ctx, "SELECT "+tenantColumns+" FROM public.condo_tenants t WHERE t.status <> 'pending' ORDER BY t.id DESC LIMIT $1", limit)
}
