package condo_test

import (
	"context"
	"errors"
	"fmt"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

func ExampleValidateSlug() {
	for _, slug := range []string{"acme", "Acme", "admin", "acme;drop", "-acme"} {
		fmt.Println(slug, "→", condo.ValidateSlug(slug, condo.DefaultReserved()))
	}
	// Output:
	// acme → <nil>
	// Acme → invalid tenant slug "Acme": must be lower case
	// admin → invalid tenant slug "admin": is reserved
	// acme;drop → invalid tenant slug "acme;drop": character ';' at position 4 is not allowed (use a-z, 0-9 and -)
	// -acme → invalid tenant slug "-acme": must not start or end with a hyphen
}

func ExampleRegistry_InTenantTx() {
	db, closeDB := condotest.ExampleDatabase()
	defer closeDB()
	ctx := context.Background()

	tenantMigrations := fstest.MapFS{"0001_hotels.sql": {Data: []byte(
		"CREATE TABLE hotel (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL)")}}
	m, err := condomigrate.New(db.Pool, &condomigrate.Config{Tenant: tenantMigrations})
	if err != nil {
		panic(err)
	}
	reg := condo.NewRegistry(db.Pool, m, nil)
	acme, _ := reg.Create(ctx, condo.CreateParams{Slug: "acme", Name: "Acme"})
	globex, _ := reg.Create(ctx, condo.CreateParams{Slug: "globex", Name: "Globex"})

	// Each tenant writes to its own hotel table.
	for _, t := range []*condo.Tenant{acme, globex} {
		_ = reg.InTenantTx(condo.WithTenant(ctx, t), func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO hotel (name) VALUES ($1)", t.Name+" Plaza")
			return err
		})
	}
	// Acme sees only its own rows, and the database refuses the rest.
	_ = reg.InTenantTx(condo.WithTenant(ctx, acme), func(ctx context.Context, tx pgx.Tx) error {
		var names []string
		rows, _ := tx.Query(ctx, "SELECT name FROM hotel")
		names, _ = pgx.CollectRows(rows, pgx.RowTo[string])
		fmt.Println("acme sees:", names)
		return nil
	})
	err = reg.InTenantTx(condo.WithTenant(ctx, acme), func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SELECT * FROM "+globex.Schema+".hotel")
		return err
	})
	fmt.Println("acme reads globex:", err != nil)
	// Without a tenant, tenant code fails closed.
	err = reg.InTenantTx(ctx, func(context.Context, pgx.Tx) error { return nil })
	fmt.Println(errors.Is(err, condo.ErrNoTenant))
	// Output:
	// acme sees: [Acme Plaza]
	// acme reads globex: true
	// true
}
