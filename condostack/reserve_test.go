package condostack

import (
	"context"
	"testing"
	"time"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condotest"
)

// TestServeRoleReserve: Serve keeps Config.RoleReserve tenant roles
// reserved; signups take them and the reserve is refilled once half are
// gone; stopping the server stops the refill.
func TestServeRoleReserve(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	st, err := Open(t.Context(), &Config{DatabaseURL: db.URL, PoolSize: 4, TenantMigrations: tenantFS, RoleReserve: 2,
		Logger: condotest.Logger(t), Serve: ServeConfig{HTTPAddr: "127.0.0.1:0", DisableAccessLog: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- st.Serve(ctx, condohttp.Handlers{}) }()
	reserved := func(n int) func() bool {
		return func() bool {
			s, err := st.Registry.RoleShares(t.Context())
			return err == nil && s.Reserved == n
		}
	}
	condotest.WaitFor(t, time.Minute, "2 reserved roles", reserved(2))
	first, err := st.Registry.Create(t.Context(), condo.CreateParams{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	if first.ID != 1 {
		t.Fatalf("acme is tenant %d, want 1 (the first reserved role)", first.ID)
	}
	if _, err := st.Registry.Create(t.Context(), condo.CreateParams{Slug: "globex", Name: "Globex"}); err != nil {
		t.Fatal(err)
	}
	condotest.WaitFor(t, time.Minute, "the reserve refilled to 2", reserved(2))
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}
