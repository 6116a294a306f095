package condohttp_test

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condotest"
)

func TestRouterHosts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	e.create(t, "acme", "shop.acme-corp.test", "bücher.example")
	e.create(t, "globex")
	e.create(t, "sleepy")
	e.create(t, "gone")
	e.create(t, "pending")
	ctx := t.Context()
	if err := e.reg.Suspend(ctx, "sleepy"); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Delete(ctx, "gone", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.AddDomain(ctx, "pending", "unverified.test", &condo.DomainOpts{Unverified: true}); err != nil {
		t.Fatal(err)
	}
	ed := newEdge(t, e, nil)

	cases := []struct {
		host   string
		status int
		body   string // prefix
	}{
		{"acme.example.test", 200, "tenant:acme"},
		{"ACME.Example.TEST", 200, "tenant:acme"},
		{"acme.example.test.", 200, "tenant:acme"},
		{"acme.example.test:8080", 200, "tenant:acme"},
		{"Acme.Example.Test.:443", 200, "tenant:acme"},
		{"acme.saas.localhost", 200, "tenant:acme"},
		{"shop.acme-corp.test", 200, "tenant:acme"},
		{"SHOP.Acme-Corp.test.:80", 200, "tenant:acme"},
		{"xn--bcher-kva.example", 200, "tenant:acme"},
		{"bücher.example", 200, "tenant:acme"}, // the client sends punycode
		{"globex.example.test", 200, "tenant:globex"},
		{"example.test", 200, "public"},
		{"www.example.test", 200, "public"},
		{"WWW.example.test:8080", 200, "public"},
		{"saas.localhost", 200, "public"},
		{"admin.example.test", 200, "admin"},
		{"api.example.test", 404, ""},   // reserved, no handler
		{"condo.example.test", 404, ""}, // reserved
		{"sleepy.example.test", 403, ""},
		{"gone.example.test", 404, ""},
		{"nobody.example.test", 404, ""},
		{"a.acme.example.test", 404, ""},
		{"www.acme.example.test", 404, ""},
		{"acme.example.test.evil.test", 404, ""},
		{"acmeexample.test", 404, ""},
		{"unverified.test", 404, ""},
		{"pending.example.test", 200, "tenant:pending"},
		{"example.org", 404, ""},
		{"localhost", 404, ""},
		{"127.0.0.1", 404, ""},
		{"127.0.0.1:8080", 404, ""},
		{"[::1]:8080", 404, ""},
		{"xn--80ak6aa92e.example.test", 404, ""}, // punycode is never a slug
		{"ab--cd.example.test", 404, ""},
	}
	for _, tc := range cases {
		status, body, _ := ed.get(t, tc.host, "/x", nil)
		if status != tc.status || !strings.HasPrefix(body, tc.body) {
			t.Errorf("Host %q: got %d %.40q, want %d %q", tc.host, status, body, tc.status, tc.body)
		}
	}
	// Hosts the Go client refuses to send.
	for _, host := range []string{"ac_me.example.test", "acme..example.test", "-acme.example.test",
		"acme.example.test:http", "acme example.test", "xn--zz.example.test"} {
		if got := ed.rawGet(t, host); got != http.StatusBadRequest {
			t.Errorf("Host %q: got %d, want 400", host, got)
		}
	}
	// No Host at all (HTTP/1.0).
	if got := ed.rawGet(t, ""); got != http.StatusBadRequest {
		t.Errorf("empty Host: got %d, want 400", got)
	}
}

func TestRouterPathPrefixAndHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	e.create(t, "acme")
	trusted, err := condohttp.ParseTrustedProxies([]string{"loopback"})
	if err != nil {
		t.Fatal(err)
	}
	rc := &condo.ResolverConfig{PathPrefix: "/t/", TenantHeader: "X-Condo-Tenant"}
	ed := newEdge(t, e, &edgeOpts{resolver: rc, server: &condohttp.ServerConfig{TrustedProxies: trusted}})
	if status, body, _ := ed.get(t, "example.test", "/t/acme/hotels/", nil); status != 200 || !strings.HasPrefix(body, "tenant:acme path:/hotels/") {
		t.Errorf("path prefix: got %d %q", status, body)
	}
	if status, _, _ := ed.get(t, "example.test", "/t/nobody/hotels/", nil); status != 404 {
		t.Errorf("path prefix, unknown slug: got %d, want 404", status)
	}
	if status, _, _ := ed.get(t, "acme.example.test", "/t/acme/", nil); status != 200 {
		t.Errorf("prefix on a tenant host is just a path: got %d", status)
	}
	if status, body, _ := ed.get(t, "internal.svc", "/hotels/", map[string]string{"X-Condo-Tenant": "acme"}); status != 200 || !strings.HasPrefix(body, "tenant:acme") {
		t.Errorf("tenant header from trusted peer: got %d %q", status, body)
	}

	// The same header from an untrusted peer is ignored.
	ed2 := newEdge(t, e, &edgeOpts{resolver: &condo.ResolverConfig{TenantHeader: "X-Condo-Tenant"}})
	if status, _, _ := ed2.get(t, "internal.svc", "/hotels/", map[string]string{"X-Condo-Tenant": "acme"}); status != 404 {
		t.Errorf("tenant header from untrusted peer: got %d, want 404", status)
	}
}

func TestForwardedHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	e.create(t, "acme")
	spoof := map[string]string{
		"X-Forwarded-Host":  "acme.example.test",
		"X-Forwarded-Proto": "https",
		"X-Forwarded-For":   "203.0.113.9",
		"X-Request-Id":      "spoofed-id",
	}
	forwarded := map[string]string{"Forwarded": `for=203.0.113.9;host=acme.example.test;proto=https`}

	// 127.0.0.1 is not in the trusted networks: everything is ignored.
	untrusted, err := condohttp.ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	ed := newEdge(t, e, &edgeOpts{server: &condohttp.ServerConfig{TrustedProxies: untrusted}})
	for _, hdr := range []map[string]string{spoof, forwarded} {
		status, _, h := ed.get(t, "nobody.other.test", "/", hdr)
		if status != 404 {
			t.Errorf("spoofed %v: got %d, want 404", hdr, status)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("spoofed proto: HSTS sent on plain HTTP")
		}
		if h.Get("X-Request-Id") == "spoofed-id" {
			t.Errorf("spoofed request id believed")
		}
	}
	status, body, _ := ed.get(t, "acme.example.test", "/", spoof)
	if status != 200 || !strings.Contains(body, "client:127.0.0.1 xff:") || strings.Contains(body, "203.0.113.9") {
		t.Errorf("untrusted peer: got %d %q; want client 127.0.0.1 and no X-Forwarded-For", status, body)
	}

	// Trusted: believed, and the client is the rightmost untrusted address.
	trusted, err := condohttp.ParseTrustedProxies([]string{"127.0.0.0/8", "10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	ed2 := newEdge(t, e, &edgeOpts{server: &condohttp.ServerConfig{TrustedProxies: trusted}})
	status, body, h := ed2.get(t, "internal.svc", "/", map[string]string{
		"X-Forwarded-Host":  "acme.example.test",
		"X-Forwarded-Proto": "https",
		"X-Forwarded-For":   "198.51.100.1, 203.0.113.9, 10.1.2.3",
		"X-Request-Id":      "proxy-id-1",
	})
	if status != 200 || !strings.HasPrefix(body, "tenant:acme") || !strings.Contains(body, "client:203.0.113.9") {
		t.Errorf("trusted X-Forwarded-*: got %d %q", status, body)
	}
	if got := h.Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains" {
		t.Errorf("HSTS behind a trusted TLS proxy: got %q", got)
	}
	if got := h.Get("X-Request-Id"); got != "proxy-id-1" {
		t.Errorf("request id from trusted proxy: got %q", got)
	}
	// One family only: by default Forwarded is not believed, even from a
	// trusted proxy (which passes a client's copy through untouched).
	status, body, h = ed2.get(t, "acme.example.test", "/", map[string]string{
		"Forwarded": `for=203.0.113.9;host=globex.example.test;proto=https`,
	})
	if status != 200 || !strings.HasPrefix(body, "tenant:acme") || !strings.Contains(body, "client:127.0.0.1") || h.Get("Strict-Transport-Security") != "" {
		t.Errorf("Forwarded from a trusted proxy, X-Forwarded-* family: got %d %q, HSTS %q; want it ignored", status, body, h.Get("Strict-Transport-Security"))
	}

	// With RFC7239 chosen: Forwarded is believed, X-Forwarded-* are not
	// (and are removed).
	ed3 := newEdge(t, e, &edgeOpts{server: &condohttp.ServerConfig{TrustedProxies: trusted, ForwardedHeaders: condohttp.RFC7239}})
	status, body, _ = ed3.get(t, "internal.svc", "/", map[string]string{
		"Forwarded": `for=198.51.100.1;host=evil.test, for="203.0.113.9:4711";host=acme.example.test;proto=https, for=10.9.9.9`,
	})
	if status != 200 || !strings.Contains(body, "client:203.0.113.9") {
		t.Errorf("trusted Forwarded: got %d %q", status, body)
	}
	status, body, h = ed3.get(t, "acme.example.test", "/", map[string]string{
		"X-Forwarded-Proto": "https",
		"X-Forwarded-For":   "203.0.113.9",
		"X-Forwarded-Host":  "globex.example.test",
	})
	if status != 200 || !strings.HasPrefix(body, "tenant:acme") || !strings.Contains(body, "client:127.0.0.1 xff:") || strings.Contains(body, "203.0.113.9") || h.Get("Strict-Transport-Security") != "" {
		t.Errorf("X-Forwarded-* from a trusted proxy, Forwarded family: got %d %q; want them ignored and removed", status, body)
	}
}

func TestParseForwardedHeaders(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]condohttp.ForwardedHeaders{"": condohttp.XForwarded, "x-forwarded": condohttp.XForwarded, "Forwarded": condohttp.RFC7239, "rfc7239": condohttp.RFC7239} {
		got, err := condohttp.ParseForwardedHeaders(in)
		if err != nil || got != want {
			t.Errorf("ParseForwardedHeaders(%q) = %v, %v; want %v", in, got, err, want)
		}
		if got2, _ := condohttp.ParseForwardedHeaders(got.String()); got2 != got {
			t.Errorf("%v does not round-trip", got)
		}
	}
	if _, err := condohttp.ParseForwardedHeaders("both"); err == nil {
		t.Error("ParseForwardedHeaders(both): no error")
	}
}

func TestParseTrustedProxies(t *testing.T) {
	t.Parallel()
	p, err := condohttp.ParseTrustedProxies([]string{"loopback", "private", "192.0.2.0/24", "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "::1": true, "10.2.3.4": true, "172.20.0.1": true, "192.168.1.1": true,
		"192.0.2.200": true, "2001:db8::1": true, "2001:db8::2": false, "8.8.8.8": false, "::ffff:10.0.0.1": true,
	} {
		if got := p.Contains(mustAddr(t, addr)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", addr, got, want)
		}
	}
	if _, err := condohttp.ParseTrustedProxies([]string{"10.0.0.0/33", "nonsense", "1.2.3.4"}); err == nil ||
		!strings.Contains(err.Error(), "10.0.0.0/33") || !strings.Contains(err.Error(), "nonsense") {
		t.Errorf("bad entries: got %v, want both reported", err)
	}
	var none *condohttp.TrustedProxies
	if none.Contains(mustAddr(t, "127.0.0.1")) {
		t.Error("nil TrustedProxies trusts someone")
	}
}

// TestChangesReachOtherInstances checks that registry changes made by one
// process (as the CLI does) reach a second instance, with its own pool,
// registry and resolver, within a second, through LISTEN/NOTIFY.
func TestChangesReachOtherInstances(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	e.create(t, "acme", "shop.acme-corp.test")
	e.create(t, "initech")

	// A second instance: its own pool, registry, resolver and server.
	other := otherInstance(t, e)
	a := newEdge(t, e, nil)
	b := newEdge(t, other, nil)

	statusOf := func(ed *edge, host string) func() int {
		return func() int { s, _, _ := ed.get(t, host, "/", nil); return s }
	}
	// Start preloaded both caches with the two tenants, so only the miss
	// costs a query; the second round is all served from the cache.
	for _, ed := range []*edge{a, b} {
		for range 2 {
			for host, want := range map[string]int{"acme.example.test": 200, "shop.acme-corp.test": 200, "newco.example.test": 404} {
				if got := statusOf(ed, host)(); got != want {
					t.Fatalf("%s: got %d, want %d", host, got, want)
				}
			}
		}
		if s := ed.resolver.Stats(); s.Hits != 5 || s.Queries != 1 {
			t.Fatalf("after warming: %+v, want 1 query and 5 hits", s)
		}
	}
	ctx := t.Context()
	step := func(what string, change func() error, host string, want int) {
		t.Helper()
		if err := change(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		d := condotest.WaitFor(t, time.Second, what+" seen by the second instance", func() bool { return statusOf(b, host)() == want })
		t.Logf("%s: visible on the second instance after %v", what, d.Round(time.Millisecond))
		// The first instance hears the same notification on its own
		// connection; it need not have heard it before the second did.
		condotest.WaitFor(t, time.Second, what+" seen by the first instance", func() bool { return statusOf(a, host)() == want })
	}
	step("suspend", func() error { return e.reg.Suspend(ctx, "acme") }, "acme.example.test", 403)
	step("suspend (custom domain)", func() error { return nil }, "shop.acme-corp.test", 403)
	step("resume", func() error { return e.reg.Resume(ctx, "acme") }, "acme.example.test", 200)
	step("rename", func() error { return e.reg.Rename(ctx, "acme", "acme2") }, "acme.example.test", 404)
	step("rename (new slug)", func() error { return nil }, "acme2.example.test", 200)
	step("create (was a cached miss)", func() error {
		_, err := e.reg.Create(ctx, condo.CreateParams{Slug: "newco", Name: "NewCo"})
		return err
	}, "newco.example.test", 200)
	step("remove domain", func() error { return e.reg.RemoveDomain(ctx, "acme2", "shop.acme-corp.test") }, "shop.acme-corp.test", 404)
	step("add domain", func() error {
		_, err := e.reg.AddDomain(ctx, "initech", "shop.acme-corp.test", nil)
		return err
	}, "shop.acme-corp.test", 200)
	step("delete", func() error { return e.reg.Delete(ctx, "initech", nil) }, "initech.example.test", 404)

	// A change to a host the second instance had not cached is visible at
	// once (its lookup goes to the database), so the notification count may
	// trail the last visible change by a moment.
	condotest.WaitFor(t, time.Second, "a notification per change on the second instance", func() bool {
		return b.resolver.Stats().Notifications >= 7
	})
}

func otherInstance(t testing.TB, e *env) *env {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(e.db.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "SET search_path TO ''")
		return err
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	reg := condo.NewRegistry(pool, e.migrator, &condo.RegistryConfig{Logger: condotest.Logger(t)})
	return &env{pool: pool, migrator: e.migrator, reg: reg, db: e.db}
}

func TestResolverWithoutListenerDoesNotCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	e.create(t, "acme")
	ed := newEdge(t, e, &edgeOpts{noStart: true})
	for range 3 {
		if s, _, _ := ed.get(t, "acme.example.test", "/", nil); s != 200 {
			t.Fatalf("got %d", s)
		}
	}
	if err := e.reg.Suspend(t.Context(), "acme"); err != nil {
		t.Fatal(err)
	}
	if s, _, _ := ed.get(t, "acme.example.test", "/", nil); s != 403 {
		t.Errorf("after suspend without a listener: got %d, want 403 at once", s)
	}
	if st := ed.resolver.Stats(); st.Hits != 0 || st.Queries != 4 {
		t.Errorf("stats %+v: want no hits and a query per request", st)
	}
}

func mustAddr(t testing.TB, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
