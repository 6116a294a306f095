package condostack

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condotest"
)

// TestOpenCitus: on a Citus coordinator the stack opens tenant-affine
// pools without being asked and runs tenant transactions on them.
func TestOpenCitus(t *testing.T) {
	t.Parallel()
	db := condotest.NewCitusDatabase(t, nil)
	ctx := t.Context()
	st, err := Open(ctx, &Config{DatabaseURL: db.URL, PoolSize: 4, TenantMigrations: tenantFS, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.TenantPools == nil {
		t.Fatal("no tenant pools on Citus")
	}
	if _, err := st.Migrator.MigrateShared(ctx, nil); err != nil {
		t.Fatal(err)
	}
	acme, err := st.Registry.Create(ctx, condo.CreateParams{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Registry.InTenantTx(condo.WithTenant(ctx, acme), func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO hotel (name) VALUES ('Ritz')")
		return err
	})
	if err != nil {
		t.Fatalf("tenant transaction on Citus: %v", err)
	}
}
