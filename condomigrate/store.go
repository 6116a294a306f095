package condomigrate

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// TenantStore is what a fleet run needs of the tenant registry, which owns
// the tenants' rows: condomigrate never reads or writes the registry's
// tables itself. *condo.Registry implements it. condomigrate declares it,
// rather than taking a *condo.Registry, because condo imports condomigrate
// (a registry applies the tenant line when it creates a tenant).
//
// Errors a TenantStore returns are passed through wrapped, so callers
// test them against condo's sentinels (condo.ErrTenantNotFound).
type TenantStore interface {
	// TenantsBehind returns, by id, the tenants that are not deleted
	// (only the one named slug, when slug is not empty) whose migration
	// version is below version, and counts those at or above it. It
	// returns an error wrapping condo.ErrTenantNotFound when slug names
	// no tenant that is not deleted.
	TenantsBehind(ctx context.Context, version int64, slug string) (behind []TenantVersion, upToDate int, err error)
	// LockTenantVersionTx locks the tenant's row in tx, so that a
	// concurrent creation, rename or purge waits for the migration, and
	// records version as the tenant's migration version, to commit or roll
	// back with the migration tx applies. It returns the tenant as it was
	// before. ok is false, and nothing is recorded, when the tenant is no
	// longer behind version: purged, deleted, or migrated meanwhile.
	LockTenantVersionTx(ctx context.Context, tx pgx.Tx, id, version int64) (t TenantVersion, ok bool, err error)
}

// TenantVersion is a tenant as a migration run sees it.
type TenantVersion struct {
	ID      int64
	Slug    string
	Schema  string
	Version int64 // the last tenant migration applied
	// Server and Database are set for a tenant in a database of its own
	// (see [TenantDatabases]): the server's name ("" for the registry's)
	// and the database's. Database is "" for a tenant in the registry's
	// database.
	Server, Database string
	// Pending reports a ready-made tenant nobody has claimed yet (condo's
	// pending pool): migrated like any other, counted apart by Status.
	Pending bool
}
