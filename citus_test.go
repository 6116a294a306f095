package condo_test

import (
	"testing"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

func newCitusEnv(t testing.TB) *env {
	t.Helper()
	db := condotest.NewCitusDatabase(t, nil)
	m, err := condomigrate.New(db.Pool, &condomigrate.Config{Tenant: hotelMigrations(), Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatalf("migrator: %v", err)
	}
	reg := condo.NewRegistry(db.Pool, m, &condo.RegistryConfig{Logger: condotest.Logger(t)})
	return &env{pool: db.Pool, migrator: m, reg: reg, db: db}
}

func TestCitusExplore(t *testing.T) {
	e := newCitusEnv(t)
	e.create(t, "acme")
}
