package condo

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

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
// LOCAL and sent with BEGIN in one round trip. They end with the
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
func (r *Registry) InTx(ctx context.Context, t *Tenant, fn func(ctx context.Context, tx pgx.Tx) error) error {
	begin, err := beginSQL(t)
	if err != nil {
		return err
	}
	tx, err := r.tenantPool().BeginTx(ctx, pgx.TxOptions{BeginQuery: begin})
	if err != nil {
		return fmt.Errorf("begin tenant %q transaction: %w", t.Slug, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // no-op after Commit
	if err := fn(ctx, tenantTx{tx}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit tenant %q transaction: %w", t.Slug, err)
	}
	return nil
}

// beginSQL is BEGIN plus the tenant's SET LOCALs, as one simple-protocol
// string. Names are validated and quoted.
func beginSQL(t *Tenant) (string, error) {
	if t == nil {
		return "", ErrNoTenant
	}
	if err := pgident.Validate("schema", t.Schema); err != nil {
		return "", err
	}
	if err := pgident.Validate("role", t.Role); err != nil {
		return "", err
	}
	return "BEGIN; SET LOCAL search_path TO " + pgident.Quote(t.Schema) + "; SET LOCAL ROLE " + pgident.Quote(t.Role), nil
}
