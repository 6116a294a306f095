package condo

import (
	"errors"

	"github.com/condo-dev/condo/internal/pgident"
)

// Sentinel errors, shared by every package of Condo (condomigrate and
// condocert pass them through wrapped rather than defining their own).
// Functions document which of them they return; callers test with
// errors.Is.
var (
	// ErrTenantNotFound: no tenant has that slug, id or host. Returned by
	// [Registry.Get], GetByID, GetByHost, the lifecycle and domain methods
	// (Suspend, Resume, Restore, Update, Rename, Delete, AddDomain, ...),
	// and [Registry.TenantsBehind], so by condomigrate's MigrateTenants for
	// an unknown TenantOpts.Slug.
	ErrTenantNotFound = errors.New("tenant not found")
	// ErrTenantExists: the slug is taken (by a tenant in any status).
	ErrTenantExists = errors.New("tenant already exists")
	// ErrDomainTaken: the host already belongs to a tenant.
	ErrDomainTaken = errors.New("domain already belongs to a tenant")
	// ErrDomainNotFound: the host is not registered (to the tenant, where
	// one is named). Returned by [Registry.RemoveDomain],
	// SetPrimaryDomain, MarkDomainVerified, [Registry.Domain],
	// [Registry.ConfirmDomain] and [Registry.ActiveDomainTenant], and so by
	// condocert's VerifyDomain for an unknown host.
	ErrDomainNotFound = errors.New("domain not found")
	// ErrTenantSuspended: the tenant exists but is suspended.
	ErrTenantSuspended = errors.New("tenant is suspended")
	// ErrTenantDeleted: the tenant exists but is deleted (not purged).
	ErrTenantDeleted = errors.New("tenant is deleted")
	// ErrNoTenant: tenant code ran without a tenant in its context. Condo
	// never falls back to the shared schema.
	ErrNoTenant = errors.New("no tenant in context")
	// ErrUnknownHost: the request's host belongs to no tenant and to no
	// configured site.
	ErrUnknownHost = errors.New("unknown host")
	// ErrIncompatibleExport: an export file cannot be imported here (another
	// format, or migrations this application does not have).
	ErrIncompatibleExport = errors.New("incompatible export")
	// ErrDatabaseUnavailable: the database cannot serve the request now,
	// though it may in a moment: it refused or dropped the connection, is
	// shutting down or starting up, has no connection slot left, or no
	// pooled connection came free within the acquire timeout. Tenant
	// transactions and queries return it (wrapping the driver's error);
	// [IsTemporary] reports it, and the driver errors it stands for (the
	// HTTP edge, package condohttp, answers them with 503).
	ErrDatabaseUnavailable = errors.New("database unavailable")
	// ErrStatementTimeout: PostgreSQL cancelled a statement, because it ran
	// past the statement timeout (see [RegistryConfig].StatementTimeout) or
	// was cancelled by an operator. [IsTemporary] reports it.
	ErrStatementTimeout = errors.New("statement timeout")
)

// NameError reports a tenant slug, host or schema name that is not
// acceptable and says why. Test for it with errors.As.
type NameError = pgident.NameError
