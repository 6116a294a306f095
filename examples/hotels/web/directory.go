package web

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
)

// DirectoryTx reports whether the tenant of tx (a tenant transaction, as
// [condo.Registry.InTenantTx] opens) publishes its hotel directory.
func DirectoryTx(ctx context.Context, tx pgx.Tx) (bool, error) {
	var on bool
	if err := tx.QueryRow(ctx, "SELECT public_directory FROM settings").Scan(&on); err != nil {
		return false, fmt.Errorf("read directory setting: %w", err)
	}
	return on, nil
}

// SetDirectoryTx publishes (on) or withdraws the hotel directory of the
// tenant of tx.
func SetDirectoryTx(ctx context.Context, tx pgx.Tx, on bool) error {
	if _, err := tx.Exec(ctx, "UPDATE settings SET public_directory = $1", on); err != nil {
		return fmt.Errorf("set directory: %w", err)
	}
	return nil
}

// SetDirectory publishes (on) or withdraws the hotel directory of the
// tenant slug: for the CLI, tests and the bench harness. Returns
// [condo.ErrTenantNotFound].
func SetDirectory(ctx context.Context, reg *condo.Registry, slug string, on bool) error {
	t, err := reg.Get(ctx, slug)
	if err != nil {
		return err
	}
	return reg.InTenantTx(condo.WithTenant(ctx, t), func(ctx context.Context, tx pgx.Tx) error {
		return SetDirectoryTx(ctx, tx, on)
	})
}
