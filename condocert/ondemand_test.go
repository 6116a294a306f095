package condocert_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

// newRegistry returns a tenant registry over pool, a database with Condo's
// shared migrations applied.
func newRegistry(t testing.TB, pool *pgxpool.Pool) *condo.Registry {
	t.Helper()
	m, err := condomigrate.New(pool, &condomigrate.Config{Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return condo.NewRegistry(pool, m, &condo.RegistryConfig{Logger: condotest.Logger(t)})
}

// addTenant creates a tenant in status with domains: verified ones (by an
// operator, no token) and unverified ones, whose tokens it returns by host.
func addTenant(t testing.TB, reg *condo.Registry, slug string, status condo.Status, domains map[string]bool) map[string]string {
	t.Helper()
	ctx := t.Context()
	var verified []string
	for host, ok := range domains {
		if ok {
			verified = append(verified, host)
		}
	}
	if _, err := reg.Create(ctx, condo.CreateParams{Slug: slug, Name: slug, Domains: verified}); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for host, ok := range domains {
		if ok {
			continue
		}
		d, err := reg.AddDomain(ctx, slug, host, &condo.DomainOpts{Unverified: true})
		if err != nil {
			t.Fatal(err)
		}
		tokens[host] = d.VerifyToken
	}
	var err error
	switch status {
	case condo.StatusSuspended:
		err = reg.Suspend(ctx, slug)
	case condo.StatusDeleted:
		err = reg.Delete(ctx, slug, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return tokens
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
	reg := newRegistry(t, pool)
	addTenant(t, reg, "acme", condo.StatusActive, map[string]bool{"shop.customer.test": true, "other.customer.test": true, "unverified.customer.test": false})
	addTenant(t, reg, "gone", condo.StatusSuspended, map[string]bool{"gone.customer.test": true})

	var allowCalls atomic.Int64
	allow := condocert.RegistryAllow(reg)
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
	reg := newRegistry(t, newDatabase(t))
	addTenant(t, reg, "acme", condo.StatusActive, map[string]bool{"shop.customer.test": true, "new.customer.test": false})
	addTenant(t, reg, "gone", condo.StatusDeleted, map[string]bool{"gone.customer.test": true})
	allow := condocert.RegistryAllow(reg)
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

// TestOnDemandHTTP01: with TLS-ALPN-01 disabled, a verified custom domain
// gets its certificate on its first handshake over HTTP-01, answered by
// Manager.HTTPChallengeHandler on the port the CA connects to; other
// requests on that port reach the wrapped handler.
func TestOnDemandHTTP01(t *testing.T) {
	t.Parallel()
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := httpLn.Addr().(*net.TCPAddr).Port
	// Pebble's TLS-ALPN-01 port stays unset: that challenge cannot succeed.
	e := newEnv(t, "odhttp", pebbleOpts{HTTPPort: port})
	pool := e.db.Pool
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "h" + hex.EncodeToString(b[:]) + ".web.customer.test" // *.web has an A record
	reg := newRegistry(t, pool)
	addTenant(t, reg, "web", condo.StatusActive, map[string]bool{name: true})

	cfg := e.config(true)
	cfg.BaseDomains, cfg.DNSProvider = nil, nil // on-demand certificates only
	cfg.OnDemand = &condocert.OnDemandConfig{
		AllowFunc:      condocert.RegistryAllow(reg),
		HTTPChallenge:  true,
		HTTPPort:       port,
		DisableTLSALPN: true,
	}
	m := newManager(t, pool, cfg)
	if err := m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	var challenges atomic.Int64
	plain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "plain http") })
	acme := m.HTTPChallengeHandler(plain)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
			challenges.Add(1)
		}
		acme.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(httpLn) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := serve(t, m, nil)

	leaf, err := handshake(addr, name, e.ca.Root)
	if err != nil {
		t.Fatalf("first handshake for a verified domain: %v", err)
	}
	if got := strings.Join(leaf.DNSNames, ","); got != name {
		t.Errorf("certificate names %q, want %s", got, name)
	}
	if got := e.ca.finals.Load(); got != 1 {
		t.Errorf("issuances: got %d, want 1", got)
	}
	if challenges.Load() == 0 {
		t.Error("the CA never fetched an HTTP-01 challenge")
	}
	if body, err := get(addr, name, e.ca.Root); err != nil || body != "hello "+name {
		t.Errorf("GET https://%s/: %q, %v", name, body, err)
	}
	resp, err := http.Get("http://" + httpLn.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "plain http" {
		t.Errorf("GET / on the HTTP port: got %q, want the wrapped handler's answer", body)
	}
	// An unknown name still gets nothing and causes no ACME traffic.
	requests := e.ca.requests.Load()
	if _, err := handshake(addr, "evil.web.customer.test", e.ca.Root); err == nil {
		t.Error("evil.web.customer.test: handshake succeeded")
	}
	if got := e.ca.requests.Load() - requests; got != 0 {
		t.Errorf("a refused name caused %d ACME requests", got)
	}
}

func TestOnDemandConfigValidation(t *testing.T) {
	t.Parallel()
	allow := func(context.Context, string) (string, error) { return "", nil }
	_, err := condocert.New(nil, &condocert.Config{
		Email: "ops@example.test", InsecurePlaintextStorage: true,
		OnDemand: &condocert.OnDemandConfig{AllowFunc: allow, DisableTLSALPN: true},
	})
	if err == nil || !strings.Contains(err.Error(), "DisableTLSALPN") {
		t.Errorf("DisableTLSALPN without HTTPChallenge: got %v, want an error naming it", err)
	}
}
