package condocert_test

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo/condocert"
)

func addTenant(t testing.TB, pool *pgxpool.Pool, slug, status string, domains map[string]bool) {
	t.Helper()
	ctx := t.Context()
	var id int64
	err := pool.QueryRow(ctx, `INSERT INTO public.condo_tenants (slug, name, schema_name, role_name, status)
VALUES ($1, $1, 't_' || $1, 'r_' || $1, $2) RETURNING id`, slug, status).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	for host, verified := range domains {
		if _, err := pool.Exec(ctx, `INSERT INTO public.condo_domains (host, tenant_id, verified_at)
VALUES ($1, $2, CASE WHEN $3 THEN now() END)`, host, id, verified); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOnDemand: a verified custom domain of an active tenant gets a
// certificate on its first handshake (TLS-ALPN-01); unknown, unverified
// and suspended tenants' domains get none and cause no ACME traffic; the
// per-tenant and per-client limits hold.
func TestOnDemand(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	e := newEnv(t, "od", pebbleOpts{TLSALPNPort: port})
	pool := e.db.Pool
	addTenant(t, pool, "acme", "active", map[string]bool{"shop.customer.test": true, "other.customer.test": true, "unverified.customer.test": false})
	addTenant(t, pool, "gone", "suspended", map[string]bool{"gone.customer.test": true})

	var allowCalls atomic.Int64
	allow := condocert.RegistryAllow(pool)
	cfg := e.config(true)
	cfg.OnDemand = &condocert.OnDemandConfig{
		AllowFunc: func(ctx context.Context, host string) (string, error) {
			allowCalls.Add(1)
			return allow(ctx, host)
		},
		TLSALPNPort: port,
		TenantBurst: 1, TenantRate: time.Hour,
		ClientBurst: 8, ClientRate: time.Hour,
	}
	m := newManager(t, pool, cfg)
	if err := m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, m, ln)
	wctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := m.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	finals := e.ca.finals.Load()

	start := time.Now()
	leaf, err := handshake(addr, "shop.customer.test", e.ca.Root)
	if err != nil {
		t.Fatalf("first handshake for a verified domain: %v", err)
	}
	t.Logf("first handshake with issuance: %s", time.Since(start))
	if got := strings.Join(leaf.DNSNames, ","); got != "shop.customer.test" {
		t.Errorf("certificate names %q, want shop.customer.test", got)
	}
	if got := e.ca.finals.Load() - finals; got != 1 {
		t.Errorf("issuances for shop.customer.test: %d, want 1", got)
	}
	again, err := handshake(addr, "shop.customer.test", e.ca.Root)
	if err != nil || again.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("second handshake: %v; want the same certificate from memory", err)
	}
	// The base domain keeps its wildcard certificate.
	if l, err := handshake(addr, "a."+e.base, e.ca.Root); err != nil || l.DNSNames[0] != "*."+e.base {
		t.Errorf("a.%s: %v", e.base, err)
	}

	requests := e.ca.requests.Load()
	for _, name := range []string{
		"evil.customer.test",       // not in the registry
		"unverified.customer.test", // not verified
		"gone.customer.test",       // tenant suspended
		"other.customer.test",      // verified, but the tenant used its one issuance
	} {
		if _, err := handshake(addr, name, e.ca.Root); err == nil {
			t.Errorf("%s: handshake succeeded, want no certificate", name)
		}
	}
	if got := e.ca.requests.Load() - requests; got != 0 {
		t.Errorf("refused names caused %d ACME requests, want 0", got)
	}

	// Per client: 8 decisions in all (shop + 4 above + 3 here); after that
	// the registry is not even asked.
	for _, name := range []string{"x1.customer.test", "x2.customer.test", "x3.customer.test"} {
		_, _ = handshake(addr, name, e.ca.Root)
	}
	calls := allowCalls.Load()
	for _, name := range []string{"x4.customer.test", "x5.customer.test"} {
		if _, err := handshake(addr, name, e.ca.Root); err == nil {
			t.Errorf("%s: handshake succeeded", name)
		}
	}
	if got := allowCalls.Load() - calls; got != 0 {
		t.Errorf("AllowFunc called %d times after the client's burst was used, want 0", got)
	}
}

func TestRegistryAllow(t *testing.T) {
	t.Parallel()
	pool := newDatabase(t)
	addTenant(t, pool, "acme", "active", map[string]bool{"shop.customer.test": true, "new.customer.test": false})
	addTenant(t, pool, "gone", "deleted", map[string]bool{"gone.customer.test": true})
	allow := condocert.RegistryAllow(pool)
	for host, want := range map[string]bool{
		"shop.customer.test": true,
		"SHOP.customer.test": true,
		"new.customer.test":  false,
		"gone.customer.test": false,
		"nobody.test":        false,
	} {
		tenant, err := allow(t.Context(), host)
		if got := err == nil; got != want {
			t.Errorf("%s: allowed=%v (%v), want %v", host, got, err, want)
		}
		if want && tenant == "" {
			t.Errorf("%s: empty tenant key", host)
		}
	}
}
