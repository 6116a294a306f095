package condo

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo/internal/pgident"
)

// InTenantTx runs fn in a transaction of the tenant in ctx (see
// [WithTenant]; the tenant middleware puts it there). Returns
// [ErrNoTenant] when ctx has no tenant: Condo never falls back to the
// shared schema. See [Registry.InTx].
func (r *Registry) InTenantTx(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	t, ok := TenantFromContext(ctx)
	if !ok {
		return ErrNoTenant
	}
	return r.InTx(ctx, t, fn)
}

// InTx runs fn in a transaction of tenant t: search_path is the tenant's
// schema alone and the current role is the tenant's role, both set with SET
// LOCAL and sent with BEGIN in one round trip (with the statement timeout,
// when one is configured). They end with the
// transaction, so a pooled connection (or a transaction pooler such as
// PgBouncer) never carries one tenant's settings into another request, and
// the database itself refuses reads of other schemas and of the registry.
//
// tx.Exec without arguments uses the extended protocol too, so a string
// holding several statements is refused rather than run: injected SQL
// can't stack statements (RESET ROLE; …) behind the application's.
//
// fn's error, or a failed commit, rolls the transaction back; so does a
// panic, which then continues. The rollback does not depend on ctx, so a
// cancelled request still releases its connection cleanly.
//
// Returns [ErrDatabaseUnavailable] (wrapping the driver's error) when the
// database cannot be reached or no connection came free within the
// acquire timeout, and [ErrStatementTimeout] when a statement ran too long;
// fn's errors are marked the same way.
//
// A transaction that failed at the tenant's old place because the tenant
// moved between tiers meanwhile runs once more at its new place (see
// tx_moved.go), so fn may run twice; the first run committed nothing.
func (r *Registry) InTx(ctx context.Context, t *Tenant, fn func(ctx context.Context, tx pgx.Tx) error) error {
	err := r.inTx(ctx, t, fn)
	if err == nil {
		return nil
	}
	if nt, ok := r.movedTenant(ctx, t, err); ok {
		return r.inTx(withMovedTenant(ctx, nt), nt, fn)
	}
	return err
}

// inTx is one attempt of [Registry.InTx].
func (r *Registry) inTx(ctx context.Context, t *Tenant, fn func(ctx context.Context, tx pgx.Tx) error) error {
	lim := r.limits.Load()
	begin, err := beginSQL(t, lim.statement)
	if err != nil {
		return err
	}
	conn, release, _, err := r.acquireFor(ctx, t, lim.acquire)
	if err != nil {
		return fmt.Errorf("begin tenant %q transaction: %w", t.Slug, err)
	}
	defer release()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{BeginQuery: begin})
	if err != nil {
		return dbError(fmt.Errorf("begin tenant %q transaction: %w", t.Slug, err))
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // no-op after Commit
	if err := fn(ctx, tenantTx{tx}); err != nil {
		if class := dbErrorClass(err); class != nil {
			return fmt.Errorf("%w: tenant %q transaction: %w", class, t.Slug, err)
		}
		return err // the application's own, as it returned it
	}
	if err := tx.Commit(ctx); err != nil {
		return dbError(fmt.Errorf("commit tenant %q transaction: %w", t.Slug, err))
	}
	return nil
}

// acquireFor takes a connection for tenant t: from its database-tier pool
// (logged in as its role to its database), or from the shared pool that
// serves it. unnamed reports that no named statement may be prepared on
// it (a transaction pooler). release gives the connection back.
func (r *Registry) acquireFor(ctx context.Context, t *Tenant, d time.Duration) (conn *pgxpool.Conn, release func(), unnamed bool, err error) {
	if t.Tier == TierDatabase {
		return r.tier.pools.acquire(ctx, t, d)
	}
	return acquireShared(ctx, r.poolFor(t), d, !r.named)
}

// acquireShared is acquire for a shared pool, in acquireFunc's shape.
func acquireShared(ctx context.Context, pool *pgxpool.Pool, d time.Duration, unnamed bool) (*pgxpool.Conn, func(), bool, error) {
	conn, err := acquire(ctx, pool, d)
	if err != nil {
		return nil, nil, false, err
	}
	return conn, conn.Release, unnamed, nil
}

// queryLimits are a registry's (or tenant pools') timeouts, see
// [RegistryConfig].
type queryLimits struct {
	statement, acquire time.Duration
}

// statementTimeoutParam is the statement_timeout setting for d, in
// milliseconds (PostgreSQL's unit for it); nil (NULL: keep the server's
// setting) when d is not positive.
func statementTimeoutParam(d time.Duration) []byte {
	if d <= 0 {
		return nil
	}
	return strconv.AppendInt(nil, max(d.Milliseconds(), 1), 10)
}

// beginSQL is BEGIN plus the tenant's SET LOCALs, as one simple-protocol
// string. Names are validated and quoted.
func beginSQL(t *Tenant, timeout time.Duration) (string, error) {
	if t == nil {
		return "", ErrNoTenant
	}
	if err := pgident.Validate("schema", t.Schema); err != nil {
		return "", err
	}
	if err := pgident.Validate("role", t.Role); err != nil {
		return "", err
	}
	begin := "BEGIN; SET LOCAL search_path TO " + pgident.Quote(t.Schema) + "; SET LOCAL ROLE " + pgident.Quote(t.Role)
	if ms := statementTimeoutParam(timeout); ms != nil {
		// A number we made: nothing to quote.
		begin += "; SET LOCAL statement_timeout TO " + string(ms)
	}
	return begin, nil
}

// InTxBySlug runs fn in a transaction of the tenant named slug, as
// [Registry.InTx] does, for operations that name a tenant (the CLI's
// tenants exec). A deleted tenant's schema is kept until it is purged, but
// nothing runs in it any more: returns [ErrTenantDeleted] for one, and
// [ErrTenantNotFound] when there is no such tenant. A suspended tenant is
// not served but its operators may still work in it.
func (r *Registry) InTxBySlug(ctx context.Context, slug string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	t, err := r.Get(ctx, slug)
	if err != nil {
		return err
	}
	if t.Status == StatusDeleted {
		return fmt.Errorf("tenant %q: %w", t.Slug, ErrTenantDeleted)
	}
	return r.InTx(ctx, t, fn)
}
