package condomigrate

import (
	"context"
	"errors"
	"fmt"
)

// Status is how far the database is behind the migration files, as
// [Migrator.Status] reads it.
type Status struct {
	// SharedPending lists the migrations of Condo's line and of the
	// application's shared line that are not applied yet, in order.
	SharedPending []Applied
	// TenantLatest is the newest tenant migration in the files.
	TenantLatest int64
	// Tenants counts the tenants that are not deleted; TenantsBehind those
	// of them below TenantLatest.
	Tenants, TenantsBehind int
	// PendingBehind counts the ready-made tenants nobody has claimed yet
	// among TenantsBehind ([TenantVersion].Pending): behind after a
	// deploy until the fleet migration reaches them, and never claimed
	// meanwhile, so no customer waits on them.
	PendingBehind int
}

// Status reports pending shared migrations and how many tenants are behind,
// without taking the migration lock and without writing anything (so it
// neither waits for a running migration nor needs more than SELECT on
// Condo's tables): for health checks such as the CLI's doctor. A database
// never migrated has every shared migration pending and no tenants. Returns
// an error wrapping [ErrChecksumMismatch] or [ErrUnknownVersion] when the
// files and the database disagree. store is the tenant registry (a
// *condo.Registry), which counts the tenants.
func (m *Migrator) Status(ctx context.Context, store TenantStore) (*Status, error) {
	st := &Status{TenantLatest: m.tenant.Latest()}
	var exists bool
	if err := m.pool.QueryRow(ctx, "SELECT to_regclass('public.condo_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return nil, fmt.Errorf("look for the migrations table: %w", err)
	}
	var errs []error
	registry := false // Condo's first migration, which creates the registry, is applied
	for _, line := range []*Line{m.core, m.shared} {
		applied := map[int64]string{}
		if exists {
			var err error
			if applied, err = loadApplied(ctx, m.pool, line.Name); err != nil {
				return nil, err
			}
		}
		if err := verify(line, applied); err != nil {
			errs = append(errs, err)
		}
		for _, mig := range line.Migrations {
			if _, ok := applied[mig.Version]; !ok {
				st.SharedPending = append(st.SharedPending, Applied{line.Name, mig.Version, mig.Name})
			}
		}
		if line == m.core && len(line.Migrations) > 0 {
			_, registry = applied[line.Migrations[0].Version]
		}
	}
	if !exists {
		return st, nil
	}
	if err := m.checkTenantCatalog(ctx, m.pool); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return st, err
	}
	if !registry {
		return st, nil // Condo's line not applied yet: no registry, so no tenants
	}
	behind, upToDate, err := store.TenantsBehind(ctx, st.TenantLatest, "")
	if err != nil {
		return st, fmt.Errorf("count tenants behind: %w", err)
	}
	st.Tenants, st.TenantsBehind = upToDate+len(behind), len(behind)
	for _, t := range behind {
		if t.Pending {
			st.PendingBehind++
		}
	}
	return st, nil
}
