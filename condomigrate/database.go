package condomigrate

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/pgexec"
	"github.com/condo-dev/condo/internal/pgident"
)

// A tenant in a database of its own (condo's database tier) keeps its
// schema and its history table there, and the shared catalog stays in the
// registry's database. So its migration is two transactions, on two
// databases: the tenant's, which applies the migrations and records them
// in the tenant's history, and the registry's, which locks the tenant's
// row, records the new version and the catalog, and commits last. The
// tenant's history, not the registry's version, says where to start: a
// run that died between the two commits finds the migrations applied and
// only records them, neither failing nor applying them twice.

// TenantDatabases is implemented by a [TenantStore] whose tenants may
// live in databases of their own. [Migrator.MigrateTenants] uses it when
// the store implements it.
type TenantDatabases interface {
	// InTenantDatabaseTx runs fn in a transaction on the database of
	// tenant t (t.Database is not empty), as a role that owns the
	// tenant's schema, and commits it when fn returns nil.
	InTenantDatabaseTx(ctx context.Context, t TenantVersion, fn func(tx pgx.Tx) error) error
}

// TenantDatabaseVersionTx returns the last tenant migration recorded in
// schema's own history, in tx (on the tenant's database).
func TenantDatabaseVersionTx(ctx context.Context, tx pgx.Tx, schema string) (int64, error) {
	if err := pgident.Validate("schema", schema); err != nil {
		return 0, err
	}
	var v int64
	err := tx.QueryRow(ctx, "SELECT COALESCE(max(version), 0) FROM "+pgident.QuoteQualified(schema, HistoryTable)).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read %s history: %w", schema, err)
	}
	return v, nil
}

// ApplyTenantDatabaseTx brings schema, in tx on a tenant's own database,
// to version upto, starting after the last version of
// the schema's own history (see [TenantDatabaseVersionTx]). The shared
// catalog is not in that database: record it in the registry's database
// with [Migrator.RecordTenantCatalogTx]. It returns the version reached,
// or a [*MigrateError].
func (m *Migrator) ApplyTenantDatabaseTx(ctx context.Context, tx pgx.Tx, slug, schema string, upto int64) (int64, error) {
	from, err := TenantDatabaseVersionTx(ctx, tx, schema)
	if err != nil {
		return 0, &MigrateError{Tenant: slug, Err: err}
	}
	return m.applyTenant(ctx, tx, slug, schema, from, upto, false)
}

// RecordTenantCatalogTx checks the tenant files against the shared
// catalog and records in it the tenant migrations up to version upto, in
// tx on the registry's database: the catalog half of a database-tier
// tenant's migration. Returns an error wrapping [ErrChecksumMismatch]
// when the files disagree with the catalog.
func (m *Migrator) RecordTenantCatalogTx(ctx context.Context, tx pgx.Tx, upto int64) error {
	if err := m.checkTenantCatalog(ctx, tx); err != nil {
		return err
	}
	var stmts []string
	for _, mig := range m.tenant.Upto(upto) {
		stmts = append(stmts, m.catalogInsert(mig))
	}
	if len(stmts) == 0 {
		return nil
	}
	if err := pgexec.Each(ctx, tx.Conn().PgConn(), stmts); err != nil {
		var pe *pgexec.Error
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("record tenant catalog: %w", err)
	}
	return nil
}

// migrateDatabase migrates tenant t, which lives in a database of its
// own, to latest: the tenant's transaction there commits first, then the
// caller's registry transaction rtx (which locked t's row and recorded
// latest) records the catalog and commits.
func (m *Migrator) migrateDatabase(ctx context.Context, store TenantStore, rtx pgx.Tx, t TenantVersion, latest int64) error {
	dbs, ok := store.(TenantDatabases)
	if !ok {
		return &MigrateError{Tenant: t.Slug, Err: fmt.Errorf("tenant is in database %q and the store cannot reach it", t.Database)}
	}
	var v int64
	err := dbs.InTenantDatabaseTx(ctx, t, func(tx pgx.Tx) error {
		var err error
		v, err = m.ApplyTenantDatabaseTx(ctx, tx, t.Slug, t.Schema, latest)
		return err
	})
	if err != nil {
		var me *MigrateError
		if errors.As(err, &me) {
			return err
		}
		return &MigrateError{Tenant: t.Slug, Err: err}
	}
	if v != latest {
		return &MigrateError{Tenant: t.Slug, Version: v, Err: fmt.Errorf("migrated to %d, recorded %d", v, latest)}
	}
	if err := m.RecordTenantCatalogTx(ctx, rtx, latest); err != nil {
		return &MigrateError{Tenant: t.Slug, Version: latest, Err: err}
	}
	return nil
}
