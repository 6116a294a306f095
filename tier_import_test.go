package condo_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

// TestTierImport: an export made at an older migration imports into the
// database tier, migrated there to the latest (data, sequence, catalog
// and registry version all agree); a truncated file leaves no tenant and
// no database behind.
func TestTierImport(t *testing.T) {
	t.Parallel()
	e := newTierEnv(t, nil, nil) // hotel and room: version 1
	ctx := t.Context()
	old := e.create(t, "old")
	if err := e.reg.InTx(ctx, old, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) SELECT 'H' || i, 'C', 3 FROM generate_series(1, 20) i")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := e.reg.Export(ctx, "old", &buf); err != nil {
		t.Fatalf("Export: %v", err)
	}
	file := buf.Bytes()

	line := condotest.HotelMigrations()
	line["0002_rating.sql"] = &fstest.MapFile{Data: []byte("ALTER TABLE hotel ADD COLUMN rating numeric(3,1)")}
	m2, err := condomigrate.New(e.pool, &condomigrate.Config{Tenant: line, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	reg2 := condo.NewRegistry(e.pool, m2, &condo.RegistryConfig{Logger: condotest.Logger(t), SecretKey: testSecretKey})
	t.Cleanup(reg2.Close)
	imp, err := reg2.Import(ctx, bytes.NewReader(file), condo.ImportParams{Slug: "copy", Tier: condo.TierDatabase})
	if err != nil {
		t.Fatalf("Import into the database tier: %v", err)
	}
	got, err := reg2.Get(ctx, "copy")
	if err != nil || got.Tier != condo.TierDatabase || got.Database == "" || got.MigrationVersion != 2 || imp.MigrationVersion != 2 {
		t.Fatalf("imported %+v (Get %+v, %v); want the database tier at version 2", imp, got, err)
	}
	var n, next int64
	if err := reg2.InTx(ctx, got, func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM hotel WHERE rating IS NULL").Scan(&n); err != nil {
			return err
		}
		return tx.QueryRow(ctx, "INSERT INTO hotel (name, city, stars, rating) VALUES ('new', 'C', 3, 4.5) RETURNING id").Scan(&next)
	}); err != nil || n != 20 || next != 21 {
		t.Fatalf("imported tenant: %d hotels, next id %d (%v); want 20 with the new column, 21", n, next, err)
	}
	if st, err := m2.Status(ctx, reg2); err != nil || st.TenantsBehind != 1 {
		t.Fatalf("Status = %+v, %v; want only old behind", st, err)
	}

	// Truncated: Create undoes the database and the role.
	_, err = reg2.Import(ctx, bytes.NewReader(file[:len(file)-20]), condo.ImportParams{Slug: "broken", Tier: condo.TierDatabase})
	if !errors.Is(err, condo.ErrIncompatibleExport) {
		t.Fatalf("truncated import: got %v, want ErrIncompatibleExport", err)
	}
	if _, err := reg2.Get(ctx, "broken"); !errors.Is(err, condo.ErrTenantNotFound) {
		t.Fatalf("Get(broken): %v", err)
	}
	if o, err := reg2.OrphanDatabases(ctx); err != nil || len(o) != 0 {
		t.Fatalf("OrphanDatabases = %+v, %v; want none", o, err)
	}
}
