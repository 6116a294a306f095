package condo

import (
	"context"
	"time"
)

// Status is a tenant's lifecycle state.
type Status string

// Tenant states. Only active tenants are served; a suspended tenant's site
// shows a suspended page; a deleted tenant is kept (data and slug) until it
// is purged, and is served like an unknown host. A pending tenant is a
// ready-made one no customer has claimed yet ([PendingPool]): hidden from
// lookups and listings unless asked for, never served.
const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
	StatusDeleted   Status = "deleted"
	StatusPending   Status = "pending"
)

// Tenant is one customer: a row in the shared registry, a schema and a
// database role of its own.
type Tenant struct {
	ID   int64  `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
	// Schema and Role are derived from ID ("tenant_42" and
	// "<prefix>tenant_42"), so renaming a tenant never touches its data.
	Schema           string     `json:"schema"`
	Role             string     `json:"role"`
	Status           Status     `json:"status"`
	PaidUntil        *time.Time `json:"paid_until"`
	OnTrial          bool       `json:"on_trial"`
	CreatedOn        time.Time  `json:"created_on"`
	MigrationVersion int64      `json:"migration_version"`
	Domains          []Domain   `json:"domains"`
	// Tier is where the tenant's data lives: [TierSchema] (a schema of
	// the registry's database) or [TierDatabase] (a database of its own).
	Tier Tier `json:"tier"`
	// Server names the server of a database-tier tenant's database
	// ([RegistryConfig].Servers); "" is the registry's own server.
	Server string `json:"server,omitempty"`
	// Database is a database-tier tenant's database, named after its
	// id like Schema and Role ("<prefix>tenant_42"); "" for the schema
	// tier. The schema in it is Schema, as in the schema tier, so the
	// application's SQL is the same in both tiers.
	Database string `json:"database,omitempty"`
	// SealedPassword is a database-tier tenant's login password, sealed
	// (AES-256-GCM) with the registry's [RegistryConfig].SecretKey: opaque
	// without it. It travels with the tenant so that a tenant from the
	// resolver's cache opens its pool with no registry query. Exported
	// (not hidden) so that Tenant stays a plain comparable value; never
	// marshalled.
	SealedPassword []byte `json:"-"`
}

// Domain is a host name registered to a tenant: a custom domain such as
// shop.example.org. Subdomains of the platform's base domains need no row:
// they resolve by slug.
type Domain struct {
	Host     string `json:"host"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
	// VerifyToken is the proof the owner must publish before an unverified
	// domain counts. Empty once verified.
	VerifyToken string `json:"verify_token,omitempty"`
}

// PrimaryDomain returns the tenant's primary custom domain, or "" when it
// has none.
func (t *Tenant) PrimaryDomain() string {
	for _, d := range t.Domains {
		if d.Primary {
			return d.Host
		}
	}
	return ""
}

type tenantKey struct{}

// WithTenant returns a context carrying t. Tenant transactions
// ([Registry.InTenantTx]) run in the tenant found here.
func WithTenant(ctx context.Context, t *Tenant) context.Context {
	return context.WithValue(ctx, tenantKey{}, t)
}

// TenantFromContext returns the tenant put in ctx by [WithTenant] or by the
// tenant middleware.
func TenantFromContext(ctx context.Context) (*Tenant, bool) {
	t, ok := ctx.Value(tenantKey{}).(*Tenant)
	return t, ok && t != nil
}
