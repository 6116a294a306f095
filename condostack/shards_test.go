package condostack

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condotest"
)

// TestOpenRuntimeShards opens the stack with two runtime shards and two
// provisioning roles: each tenant's transactions and queries run as its
// shard's runtime role, on the registry and on Stack.TenantPools, tenants
// created afterwards included; a restart keeps the shards.
func TestOpenRuntimeShards(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{Runtime: true})
	ctx := t.Context()
	rt1 := db.RuntimeRole + "_1"
	if _, err := db.Pool.Exec(ctx, "CREATE ROLE "+rt1+" LOGIN NOINHERIT"); err != nil {
		t.Fatal(err)
	}
	url1 := strings.Replace(db.RuntimeURL, "://"+db.RuntimeRole+"@", "://"+rt1+"@", 1)
	roles := []string{db.RuntimeRole, rt1}
	cfg := &Config{DatabaseURL: db.URL, RuntimeShardURLs: []string{db.RuntimeURL, url1}, Provisioners: 2,
		PoolSize: 4, TenantMigrations: tenantFS, Logger: condotest.Logger(t)}
	for round := range 2 {
		st, err := Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			if _, err := st.Migrator.MigrateShared(ctx, nil); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 3 {
			slug := fmt.Sprintf("r%dt%d", round, i)
			ten, err := st.Registry.Create(ctx, condo.CreateParams{Slug: slug, Name: slug})
			if err != nil {
				t.Fatal(err)
			}
			want := roles[ten.ID%2]
			var user string
			err = st.Registry.InTx(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "INSERT INTO hotel (name) VALUES ($1)", slug); err != nil {
					return err
				}
				return tx.QueryRow(ctx, "SELECT session_user::text").Scan(&user)
			})
			if err != nil || user != want {
				t.Fatalf("tenant %s (id %d) transaction: as %q, %v; want %s", slug, ten.ID, user, err, want)
			}
			var names []string
			err = st.TenantPools.QueryTenant(condo.WithTenant(ctx, ten), func(rows pgx.Rows) error {
				names, err = pgx.CollectRows(rows, pgx.RowTo[string])
				return err
			}, "SELECT name FROM hotel")
			if err != nil || len(names) != 1 || names[0] != slug {
				t.Fatalf("tenant %s read on its shard: %v, %v", slug, names, err)
			}
		}
		st.Close()
	}
}
