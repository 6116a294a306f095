package condo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

// TestPendingHiddenFromCommands: every command that looks a tenant up by
// slug treats a pending tenant's "~pending-N" as not found, as Get does,
// and changes nothing; only a purge by hand finds it.
func TestPendingHiddenFromCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	ctx := t.Context()
	fill(t, e.reg, 1)
	ids := pendingIDs(t, e.pool)
	l, err := e.reg.List(ctx, condo.ListParams{Status: condo.StatusPending})
	if err != nil || len(l.Tenants) != 1 {
		t.Fatalf("List pending = %+v, %v", l, err)
	}
	slug := l.Tenants[0].Slug
	name, trial := "Taken", true
	for _, c := range []struct {
		name string
		run  func() error
	}{
		{"Rename", func() error { return e.reg.Rename(ctx, slug, "acme") }},
		{"Suspend", func() error { return e.reg.Suspend(ctx, slug) }},
		{"Resume", func() error { return e.reg.Resume(ctx, slug) }},
		{"Restore", func() error { return e.reg.Restore(ctx, slug) }},
		{"Delete", func() error { return e.reg.Delete(ctx, slug, nil) }},
		{"Update", func() error {
			_, err := e.reg.Update(ctx, slug, condo.UpdateParams{Name: &name, OnTrial: &trial})
			return err
		}},
		{"AddDomain", func() error {
			_, err := e.reg.AddDomain(ctx, slug, "acme.example.org", nil)
			return err
		}},
		{"RemoveDomain", func() error { return e.reg.RemoveDomain(ctx, slug, "acme.example.org") }},
		{"SetPrimaryDomain", func() error { return e.reg.SetPrimaryDomain(ctx, slug, "acme.example.org") }},
		{"MarkDomainVerified", func() error { return e.reg.MarkDomainVerified(ctx, slug, "acme.example.org") }},
		{"InTxBySlug", func() error {
			return e.reg.InTxBySlug(ctx, slug, func(context.Context, pgx.Tx) error { return nil })
		}},
	} {
		if err := c.run(); !errors.Is(err, condo.ErrTenantNotFound) {
			t.Errorf("%s(%s): got %v, want ErrTenantNotFound", c.name, slug, err)
		}
	}
	var status, gotName string
	var domains int
	if err := e.pool.QueryRow(ctx, `SELECT status, name, (SELECT count(*) FROM public.condo_domains WHERE tenant_id = t.id)
		FROM public.condo_tenants t WHERE id = $1`, ids[0]).Scan(&status, &gotName, &domains); err != nil {
		t.Fatal(err)
	}
	if status != "pending" || gotName != "" || domains != 0 {
		t.Fatalf("pending tenant after the commands: status %q, name %q, %d domains; want pending, unchanged", status, gotName, domains)
	}
	// Still claimable, and purgeable by hand (TestPendingClaim).
	if got := e.create(t, "acme"); got.ID != ids[0] {
		t.Fatalf("claim took id %d, want %d", got.ID, ids[0])
	}
}

// lockedBuffer is a log destination for a test's own logger.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestPendingRefillQuiet: making a pending tenant sends no registry
// notification (nothing a resolver caches can name it: its throwaway slug
// is never committed, it has no hosts) and logs "pending tenant made"
// under its pending slug, not "tenant created" under the throwaway one;
// the claim then sends the one "create" and logs "tenant created".
func TestPendingRefillQuiet(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	ctx := t.Context()
	m, err := condomigrate.New(db.Pool, &condomigrate.Config{Tenant: condotest.HotelMigrations(), Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	reg := condo.NewRegistry(db.Pool, m, &condo.RegistryConfig{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	listen, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer listen.Close(context.Background())
	if _, err := listen.Exec(ctx, "LISTEN "+condo.NotifyChannel); err != nil {
		t.Fatal(err)
	}
	fill(t, reg, 2)
	ids := pendingIDs(t, db.Pool)
	acme, err := reg.Create(ctx, condo.CreateParams{Slug: "acme", Name: "Acme", Domains: []string{"acme.example.org"}})
	if err != nil || acme.ID != ids[0] {
		t.Fatalf("claim: %+v, %v; want id %d", acme, err, ids[0])
	}
	// Notifications arrive in commit order: the first one heard is the
	// claim's unless a refill sent one.
	n, err := listen.WaitForNotification(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var c condo.Change
	if err := json.Unmarshal([]byte(n.Payload), &c); err != nil {
		t.Fatal(err)
	}
	if c.Op != "create" || c.Slug != "acme" || c.ID != acme.ID || len(c.Hosts) != 1 {
		t.Fatalf("first notification %s; want the claim of acme (none for the refill)", n.Payload)
	}
	var made, created []string
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec struct{ Msg, Tenant string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		switch rec.Msg {
		case "pending tenant made":
			made = append(made, rec.Tenant)
		case "tenant created":
			created = append(created, rec.Tenant)
		}
	}
	if len(made) != 2 || !strings.HasPrefix(made[0], "~pending-") || !strings.HasPrefix(made[1], "~pending-") {
		t.Errorf("pending tenant made logged for %v; want the two ~pending- slugs", made)
	}
	if len(created) != 1 || created[0] != "acme" {
		t.Errorf("tenant created logged for %v; want [acme]", created)
	}
}

// TestPendingTier: the claim takes only schema-tier tenants, and a
// creation asking for the database tier never claims one.
func TestPendingTier(t *testing.T) {
	t.Parallel()
	e := newTierEnv(t, nil, nil)
	ctx := t.Context()
	fill(t, e.reg, 2)
	ids := pendingIDs(t, e.pool)
	big := e.createDB(t, "big")
	if big.Tier != condo.TierDatabase || big.ID == ids[0] || big.ID == ids[1] {
		t.Fatalf("database-tier creation = %+v; claimed a pending tenant (%v)", big, ids)
	}
	if got := pendingIDs(t, e.pool); len(got) != 2 {
		t.Fatalf("pending after a database-tier creation: %v, want %v", got, ids)
	}
	// A database-tier row marked pending (as a move of a pending tenant
	// could leave one) is never claimed: with the schema tier's pool
	// empty, creation takes the full path.
	fill(t, e.reg, 0)
	if _, err := e.pool.Exec(ctx, "UPDATE public.condo_tenants SET status = 'pending', slug = '~pending-' || id WHERE id = $1", big.ID); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.pool.Exec(context.WithoutCancel(ctx), "UPDATE public.condo_tenants SET status = 'active', slug = 'big' WHERE id = $1", big.ID)
	})
	acme := e.create(t, "acme")
	if acme.ID == big.ID || acme.Tier != condo.TierSchema {
		t.Fatalf("schema-tier creation = %+v; claimed the database-tier row %d", acme, big.ID)
	}
	if n := hotelCount(t, e.reg, acme); n != 1 {
		t.Fatalf("acme has %d hotels, want 1", n)
	}
}
