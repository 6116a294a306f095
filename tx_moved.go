package condo

import (
	"context"
	"errors"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
)

// A request that reached a tenant's old place during a move's switch (the
// resolver's cache, or the request itself, still had the tenant as it was)
// fails there, and nothing of it was written: a writer that waited for the
// write pause finds the fenced schema gone (undefined_table), a new
// transaction finds no schema or database, or a login the switch took
// away. [Registry.InTx] and [Registry.QueryTenant] then read the tenant
// again by id from the registry, not from a cache, and when it has moved
// they run the work once more at its new place: in the normal case a
// client sees no error for a switch.

// movedCodes are the errors a tenant's old place gives after a switch.
var movedCodes = map[string]bool{
	pgerrcode.UndefinedTable:                    true, // fenced while a statement waited, or search_path gone
	pgerrcode.InvalidSchemaName:                 true,
	pgerrcode.InvalidCatalogName:                true, // old database dropped
	pgerrcode.InsufficientPrivilege:             true, // fence revoked the grants
	pgerrcode.InvalidAuthorizationSpecification: true, // role no longer logs in
	pgerrcode.InvalidPassword:                   true,
}

// movedTenant returns t as the registry has it now when err is one its old
// place gives and t has moved since; ok is false otherwise (the caller
// returns err).
func (r *Registry) movedTenant(ctx context.Context, t *Tenant, err error) (nt *Tenant, ok bool) {
	var pe *pgconn.PgError
	moved := errors.As(err, &pe) && movedCodes[pe.Code] ||
		// The old database's pool closed under a connection attempt.
		t.Tier == TierDatabase && errors.Is(err, ErrDatabaseUnavailable)
	if !moved || ctx.Err() != nil {
		return nil, false
	}
	// A move whose source is fenced and whose switch is not committed
	// holds its row locked until the switch commits (finishMove): wait
	// for it, then read the tenant.
	// A tenant struct read before an earlier move may name the place the
	// tenant is back in now while the attempt ran into the move back's
	// switch (say, the runtime role's grant not yet restored): a switch a
	// moment ago counts as a move too. At worst a genuine error right
	// after a move runs fn once more and fails again.
	var recent bool
	err = r.pool.QueryRow(ctx, `SELECT coalesce(bool_or(switched_at > now() - interval '1 minute'), false)
		FROM (SELECT switched_at FROM public.condo_tier_moves WHERE tenant_id = $1 FOR SHARE) m`, t.ID).Scan(&recent)
	if err != nil {
		return nil, false
	}
	nt, gerr := r.GetByID(ctx, t.ID)
	if gerr != nil || placeOf(nt) == placeOf(t) && !recent {
		return nil, false
	}
	return nt, true
}

// withMovedTenant is ctx with nt in place of the tenant it carries, when
// it carries that tenant.
func withMovedTenant(ctx context.Context, nt *Tenant) context.Context {
	if t, ok := TenantFromContext(ctx); ok && t.ID == nt.ID {
		return WithTenant(ctx, nt)
	}
	return ctx
}
