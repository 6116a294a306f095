package condostack

import (
	"context"
	"testing"
	"time"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condotest"
)

// TestServePendingTenants: Serve keeps Config.PendingTenants pending
// tenants ready; a signup claims one and the pool is refilled; stopping
// the server stops the refill.
func TestServePendingTenants(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	st, err := Open(t.Context(), &Config{DatabaseURL: db.URL, PoolSize: 4, TenantMigrations: tenantFS, PendingTenants: 2,
		Logger: condotest.Logger(t), Serve: ServeConfig{HTTPAddr: "127.0.0.1:0", DisableAccessLog: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- st.Serve(ctx, condohttp.Handlers{}) }()
	ready := func(n int) func() bool {
		return func() bool {
			s, err := st.Registry.PendingStats(t.Context())
			return err == nil && s.Ready == n && s.Total == n
		}
	}
	condotest.WaitFor(t, time.Minute, "2 pending tenants", ready(2))
	acme, err := st.Registry.Create(t.Context(), condo.CreateParams{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := st.Registry.List(t.Context(), condo.ListParams{Status: condo.StatusPending})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range l.Tenants {
		if p.ID < acme.ID {
			t.Fatalf("acme (%d) is newer than pending tenant %d: not claimed", acme.ID, p.ID)
		}
	}
	condotest.WaitFor(t, time.Minute, "the pool refilled to 2", ready(2))
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}
