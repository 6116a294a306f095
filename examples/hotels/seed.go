package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condostack"
	"github.com/condo-dev/condo/examples/hotels/accounts"
)

// The demo logins, printed by dev. Development only: the cluster listens
// on loopback.
const (
	demoEmail    = "demo@example.com"
	adminEmail   = "admin@example.com"
	demoPassword = "condo-demo-1234"
)

type demoTenant struct {
	slug, name string
	trial      bool
	cities     []string
	brands     []string
}

func demoTenants() []demoTenant {
	return []demoTenant{
		{slug: "acme", name: "Acme Hotels", cities: []string{"Paris", "Lyon", "Nice", "Bordeaux", "Lille", "Nantes"},
			brands: []string{"Acme Grand", "Acme Budget Inn", "Acme Suites", "Acme Riverside"}},
		{slug: "globex", name: "Globex Resorts", trial: true, cities: []string{"Berlin", "Munich", "Hamburg"},
			brands: []string{"Globex Plaza", "Globex Lodge"}},
	}
}

// seedDemo creates what is missing of the demo data: the demo user, the
// demo tenants (with hotels and rooms, owned by the demo user) and the
// platform admin. Existing tenants are left alone, so a second run keeps
// whatever was changed. It returns the slugs it created.
func seedDemo(ctx context.Context, st *condostack.Stack, store *accounts.Store) ([]string, error) {
	userID, err := ensureUser(ctx, st, store)
	if err != nil {
		return nil, err
	}
	var created []string
	for i, d := range demoTenants() {
		_, err := st.Registry.Get(ctx, d.slug)
		if err == nil {
			continue
		}
		if !errors.Is(err, condo.ErrTenantNotFound) {
			return nil, err
		}
		paid := time.Now().UTC().AddDate(0, 0, 30-20*i)
		_, err = st.Registry.Create(ctx, condo.CreateParams{
			Slug: d.slug, Name: d.name, OnTrial: d.trial, PaidUntil: &paid,
			OnCreated: func(ctx context.Context, tx pgx.Tx, t *condo.Tenant) error {
				if err := seedHotels(ctx, tx, d); err != nil {
					return err
				}
				return store.AddMemberTx(ctx, tx, userID, t.ID, accounts.RoleOwner)
			},
		})
		if err != nil {
			return nil, err
		}
		created = append(created, d.slug)
	}
	var hasAdmin bool
	if err := st.Pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM public.admin_users WHERE lower(email) = lower($1))", adminEmail).Scan(&hasAdmin); err != nil {
		return nil, err
	}
	if !hasAdmin {
		if _, err := store.CreateAdmin(ctx, adminEmail, demoPassword); err != nil {
			return nil, err
		}
	}
	return created, nil
}

func ensureUser(ctx context.Context, st *condostack.Stack, store *accounts.Store) (int64, error) {
	var id int64
	err := st.Pool.QueryRow(ctx, "SELECT id FROM public.users WHERE lower(email) = lower($1)", demoEmail).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, err
	}
	u, err := store.CreateUserTx(ctx, st.Pool, demoEmail, demoPassword)
	if err != nil {
		return 0, err
	}
	return u.ID, nil
}

// seedHotels fills a new tenant's schema (the creation hook runs with
// search_path set to it): every brand in every city, three rooms each.
func seedHotels(ctx context.Context, tx pgx.Tx, d demoTenant) error {
	b := &pgx.Batch{}
	n := 0
	for _, city := range d.cities {
		for _, brand := range d.brands {
			n++
			name := fmt.Sprintf("%s %s", brand, city)
			stars := 2 + n%4
			b.Queue(`WITH h AS (INSERT INTO hotel (name, city, stars) VALUES ($1, $2, $3) RETURNING id)
				INSERT INTO room (hotel_id, number, beds, price)
				SELECT h.id, r.number, r.beds, r.price FROM h,
					(VALUES ('101', 1, 80 + $3 * 20), ('102', 2, 110 + $3 * 20), ('201', 3, 150 + $3 * 25)) AS r(number, beds, price)`,
				name, city, stars)
		}
	}
	return tx.SendBatch(ctx, b).Close()
}
