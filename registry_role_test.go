package condo_test

import (
	"errors"
	"testing"

	"github.com/condo-dev/condo"
)

// TestGetByRole: a tenant is found by its role in any status; a role
// that is no tenant's, or a purged tenant's, is ErrTenantNotFound.
func TestGetByRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	ctx := t.Context()
	acme := e.create(t, "acme")
	if err := e.reg.Suspend(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	got, err := e.reg.GetByRole(ctx, acme.Role)
	if err != nil || got.Slug != "acme" || got.Status != condo.StatusSuspended {
		t.Fatalf("GetByRole(%q) = %+v, %v; want acme, suspended", acme.Role, got, err)
	}
	if err := e.reg.Delete(ctx, "acme", &condo.DeleteOpts{Purge: true}); err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{acme.Role, "postgres", ""} {
		if _, err := e.reg.GetByRole(ctx, role); !errors.Is(err, condo.ErrTenantNotFound) {
			t.Errorf("GetByRole(%q): got %v, want ErrTenantNotFound", role, err)
		}
	}
}
