package condo_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condotest"
)

func TestNegativeCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	res := startResolver(t, e, &condo.ResolverConfig{BaseDomains: []string{"example.test", "saas.localhost"}})
	ctx := t.Context()
	// A flood of the same unknown names costs one query each.
	for range 3 {
		for _, h := range []string{"r1.example.test", "r2.example.test", "nobody.other.test"} {
			if _, err := res.Resolve(ctx, h); !errors.Is(err, condo.ErrUnknownHost) {
				t.Fatalf("Resolve(%s): got %v, want ErrUnknownHost", h, err)
			}
		}
	}
	if s := res.Stats(); s.Queries != 3 {
		t.Errorf("queries: got %d, want 3 (%+v)", s.Queries, s)
	}
	// Names no tenant can have cost no query at all.
	for _, h := range []string{"xn--80ak6aa92e.example.test", "a.b.example.test", "admin.example.test"} {
		_, _ = res.Resolve(ctx, h)
	}
	if s := res.Stats(); s.Queries != 3 {
		t.Errorf("queries after impossible names: got %d, want 3", s.Queries)
	}
}

// TestPreload: Start loads the tenants into the cache, up to one cache
// generation, and the preloaded entries are evicted like any other.
func TestPreload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	ctx := t.Context()
	for i := range 12 {
		e.create(t, fmt.Sprintf("t%02d", i))
	}
	e.create(t, "acme", "shop.acme-corp.test")
	res, err := condo.NewResolver(e.reg, &condo.ResolverConfig{BaseDomains: []string{"example.test"}, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer res.Stop(context.Background())
	if n := res.Stats().Entries; n != 14 {
		t.Fatalf("entries after Start: got %d, want 14 (13 slugs and a custom domain)", n)
	}
	for _, h := range []string{"t00.example.test", "t11.example.test", "acme.example.test", "shop.acme-corp.test"} {
		if rt, err := res.Resolve(ctx, h); err != nil || rt.Kind != condo.RouteTenant {
			t.Fatalf("Resolve(%s): %+v, %v", h, rt, err)
		}
	}
	if s := res.Stats(); s.Queries != 0 {
		t.Errorf("queries for preloaded hosts: got %d, want 0", s.Queries)
	}
	// A preloaded entry is still evicted by a change.
	if err := e.reg.Suspend(ctx, "t05"); err != nil {
		t.Fatal(err)
	}
	condotest.WaitFor(t, time.Second, "suspension seen", func() bool {
		rt, err := res.Resolve(ctx, "t05.example.test")
		return err == nil && rt.Kind == condo.RouteSuspended
	})

	// A small cache takes only what one generation holds.
	small, err := condo.NewResolver(e.reg, &condo.ResolverConfig{BaseDomains: []string{"example.test"}, CacheSize: 10, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := small.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer small.Stop(context.Background())
	if n := small.Stats().Entries; n != 5 {
		t.Errorf("entries in a cache of 10: got %d, want 5", n)
	}
}

// TestPreloadSizedToTenants: a cache left at its default size grows at
// Start to hold every tenant, so that none of their hosts costs a query;
// at 100,000 tenants the fixed 100,000 hosts held a quarter to half of
// them after a start, and a cold cache sent the rest to the database. A
// tenant's domain under a base domain (routed by its slug) takes no room.
func TestPreloadSizedToTenants(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	ctx := t.Context()
	const n = 12
	for i := range n {
		slug := fmt.Sprintf("t%02d", i)
		e.create(t, slug, slug+".example.test")
	}
	e.create(t, "acme", "shop.acme-corp.test")
	res, err := condo.NewResolver(e.reg, &condo.ResolverConfig{BaseDomains: []string{"example.test"}, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	// As if the tenants were many more than the default 100,000 hosts.
	condo.SetCacheMinGeneration(res, 4)
	if err := res.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer res.Stop(context.Background())
	if got := res.Stats().Entries; got != n+2 {
		t.Errorf("entries after Start: got %d, want %d (every slug and the one custom domain not under a base domain)", got, n+2)
	}
	for i := range n {
		if rt, err := res.Resolve(ctx, fmt.Sprintf("t%02d.example.test", i)); err != nil || rt.Kind != condo.RouteTenant {
			t.Fatalf("Resolve(t%02d): %+v, %v", i, rt, err)
		}
	}
	if rt, err := res.Resolve(ctx, "shop.acme-corp.test"); err != nil || rt.Kind != condo.RouteTenant {
		t.Fatalf("Resolve(shop.acme-corp.test): %+v, %v", rt, err)
	}
	if s := res.Stats(); s.Queries != 0 {
		t.Errorf("queries for the tenants' hosts after Start: got %d, want 0", s.Queries)
	}

	// A fixed size stays fixed: one generation, 5 hosts, now all slugs.
	small, err := condo.NewResolver(e.reg, &condo.ResolverConfig{BaseDomains: []string{"example.test"}, CacheSize: 10, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := small.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer small.Stop(context.Background())
	if got := small.Stats().Entries; got != 5 {
		t.Errorf("entries in a cache of 10: got %d, want 5", got)
	}
}

func TestCacheBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	res, err := condo.NewResolver(e.reg, &condo.ResolverConfig{BaseDomains: []string{"example.test"}, CacheSize: 10, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer res.Stop(context.Background())
	for i := range 100 {
		_, _ = res.Resolve(t.Context(), "n"+strings.Repeat("x", i%50)+string(rune('a'+i%26))+".example.test")
	}
	if n := res.Stats().Entries; n > 10 {
		t.Errorf("entries: got %d, want at most 10", n)
	}
}

// FuzzResolveHost checks that resolving any Host header never panics, and
// that a host leads to a tenant only when it is a valid name that is that
// tenant's subdomain or custom domain.
func FuzzResolveHost(f *testing.F) {
	e := newEnv(f, nil, nil)
	e.create(f, "acme", "shop.acme-corp.test", "bücher.example")
	e.create(f, "sleepy")
	if err := e.reg.Suspend(f.Context(), "sleepy"); err != nil {
		f.Fatal(err)
	}
	res, err := condo.NewResolver(e.reg, &condo.ResolverConfig{BaseDomains: []string{"example.test", "localhost"}, Logger: condotest.Logger(f)})
	if err != nil {
		f.Fatal(err)
	}
	if err := res.Start(f.Context()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = res.Stop(context.Background()) })
	for _, s := range []string{"acme.example.test", "ACME.example.test.:80", "shop.acme-corp.test", "xn--bcher-kva.example",
		"bücher.example", "sleepy.example.test", "a.acme.example.test", "example.test", "admin.example.test",
		"acme.localhost", "[::1]:80", "127.0.0.1", "", ":", "acme..example.test", "acme.example.test:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rt, err := res.Resolve(ctx, host)
		if err != nil {
			var ne *condo.NameError
			if !errors.As(err, &ne) && !errors.Is(err, condo.ErrUnknownHost) {
				t.Fatalf("Resolve(%q): unexpected error %v", host, err)
			}
			if rt.Tenant != nil {
				t.Fatalf("Resolve(%q): error %v with a tenant", host, err)
			}
			return
		}
		if rt.Kind != condo.RouteTenant && rt.Kind != condo.RouteSuspended {
			return
		}
		if !validHost(rt.Host) && !strings.HasSuffix(rt.Host, ".localhost") {
			t.Fatalf("Resolve(%q) = tenant %s for host %q, not a valid name", host, rt.Tenant.Slug, rt.Host)
		}
		ok := rt.Host == rt.Tenant.Slug+"."+rt.Base
		for _, d := range rt.Tenant.Domains {
			ok = ok || (d.Host == rt.Host && d.Verified && rt.Base == "")
		}
		if !ok {
			t.Fatalf("Resolve(%q) = tenant %s for host %q, which is not its own", host, rt.Tenant.Slug, rt.Host)
		}
	})
}
