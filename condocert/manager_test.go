package condocert_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condotest"
)

// TestWildcard: the wildcard and apex certificates are issued over DNS-01
// through RFC 2136, served for a.base, b.base and base, not for x.y.base,
// and a restart loads them from PostgreSQL without a new issuance.
func TestWildcard(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "wild", pebbleOpts{})
	ctx := t.Context()

	m := newManager(t, e.db.Pool, e.config(true))
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := m.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, m, nil)

	if got := e.ca.finals.Load(); got != 2 {
		t.Errorf("issuances: got %d, want 2 (wildcard and apex)", got)
	}
	for _, sub := range []string{"a", "b"} {
		name := sub + "." + e.base
		body, err := get(addr, name, e.ca.Root)
		if err != nil {
			t.Fatalf("GET https://%s/: %v", name, err)
		}
		if want := "hello " + name; body != want {
			t.Errorf("GET https://%s/: got %q, want %q", name, body, want)
		}
		leaf, err := handshake(addr, name, e.ca.Root)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(leaf.DNSNames, ","); got != "*."+e.base {
			t.Errorf("%s: certificate names %q, want *.%s", name, got, e.base)
		}
	}
	apex, err := handshake(addr, e.base, e.ca.Root)
	if err != nil {
		t.Fatalf("apex: %v", err)
	}
	if got := strings.Join(apex.DNSNames, ","); got != e.base {
		t.Errorf("apex certificate names %q, want %s", got, e.base)
	}
	if _, err := handshake(addr, "x.y."+e.base, e.ca.Root); err == nil {
		t.Errorf("x.y.%s: handshake verified; a wildcard covers one label only", e.base)
	}

	// The challenge records were removed from DNS again.
	if txt := lookupTXT(t, e.knot.Addr, "_acme-challenge."+e.base); len(txt) != 0 {
		t.Errorf("challenge records left in DNS: %q", txt)
	}

	// List shows both certificates.
	list, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range list {
		names = append(names, strings.Join(c.Names, ","))
	}
	if got, want := strings.Join(names, " "), "*."+e.base+" "+e.base; got != want {
		t.Errorf("List: got %q, want %q", got, want)
	}

	// A forced renewal (`condo certs renew --force`) is served at once.
	finals := e.ca.finals.Load()
	if err := m.Renew(ctx, true, e.base); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	if got := e.ca.finals.Load() - finals; got != 1 {
		t.Errorf("Renew: %d issuances, want 1", got)
	}
	renewed, err := handshake(addr, e.base, e.ca.Root)
	if err != nil {
		t.Fatal(err)
	}
	if renewed.SerialNumber.Cmp(apex.SerialNumber) == 0 {
		t.Errorf("after Renew: still serving serial %x", apex.SerialNumber)
	}

	// Restart: a new manager on the same database serves the stored
	// certificates without talking to the CA for new orders.
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	orders := e.ca.orders.Load()
	m2 := newManager(t, e.db.Pool, e.config(true))
	if err := m2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m2.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	addr2 := serve(t, m2, nil)
	leaf2, err := handshake(addr2, "c."+e.base, e.ca.Root)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := handshake(addr, "a."+e.base, e.ca.Root)
	if first == nil || leaf2.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Errorf("after restart: serial %x, want the stored certificate's", leaf2.SerialNumber)
	}
	if got := e.ca.orders.Load() - orders; got != 0 {
		t.Errorf("after restart: %d new orders, want 0", got)
	}
	if l, err := handshake(addr2, e.base, e.ca.Root); err != nil || l.SerialNumber.Cmp(renewed.SerialNumber) != 0 {
		t.Errorf("after restart: apex %v; want the renewed certificate", err)
	}

	// Revoke: the CA is told and the certificate leaves storage.
	if err := m2.Revoke(ctx, e.base, condocert.ReasonSuperseded); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	list, err = m2.List(ctx)
	if err != nil || len(list) != 1 || list[0].Names[0] != "*."+e.base {
		t.Errorf("List after Revoke: %+v, %v; want only the wildcard", list, err)
	}
}

// TestCluster: two instances sharing the database make exactly one
// issuance per name and serve the same certificate.
func TestCluster(t *testing.T) {
	t.Parallel()
	testCluster(t, newEnv(t, "cluster", pebbleOpts{}))
}

// testCluster: two managers on two pools of e's database start at once,
// issue once through the shared storage and its locks, and serve the same
// certificate.
func testCluster(t *testing.T, e *env) {
	ctx := t.Context()
	second := secondPool(t, e.db.URL)

	m1 := newManager(t, e.db.Pool, e.config(true))
	m2 := newManager(t, second, e.config(true))
	var wg sync.WaitGroup
	for _, m := range []*condocert.Manager{m1, m2} {
		wg.Go(func() {
			if err := m.Start(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, m := range []*condocert.Manager{m1, m2} {
		if err := m.WaitReady(wctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.ca.finals.Load(); got != 2 {
		t.Errorf("issuances: got %d, want 2 (one wildcard, one apex, for both instances)", got)
	}
	l1, err := handshake(serve(t, m1, nil), "a."+e.base, e.ca.Root)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := handshake(serve(t, m2, nil), "a."+e.base, e.ca.Root)
	if err != nil {
		t.Fatal(err)
	}
	if l1.SerialNumber.Cmp(l2.SerialNumber) != 0 {
		t.Errorf("instances serve different certificates: %x and %x", l1.SerialNumber, l2.SerialNumber)
	}
}

// TestRenewal: a short-lived certificate is renewed in the background and
// the new one is served without a restart.
func TestRenewal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "renew", pebbleOpts{Profiles: map[string]uint64{"shortlived": 10}})
	ctx := t.Context()
	cfg := e.config(true)
	cfg.Profile = "shortlived"
	m := newManager(t, e.db.Pool, cfg)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := m.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, m, nil)
	first, err := handshake(addr, "a."+e.base, e.ca.Root)
	if err != nil {
		t.Fatal(err)
	}
	if life := first.NotAfter.Sub(first.NotBefore); life > time.Minute {
		t.Fatalf("certificate lifetime %s; the short-lived profile was not used", life)
	}
	// ARI may pick any time in the certificate's 10 s life.
	condotest.WaitFor(t, 30*time.Second, "a renewed certificate", func() error {
		leaf, err := handshake(addr, "a."+e.base, e.ca.Root)
		if err != nil {
			return err
		}
		if leaf.SerialNumber.Cmp(first.SerialNumber) == 0 {
			return errNotYet
		}
		return nil
	})
	if got := e.ca.finals.Load(); got < 3 {
		t.Errorf("issuances: got %d, want at least 3 (2 + a renewal)", got)
	}
}

// TestCAUnavailable: with the CA gone, the server keeps serving the
// certificate it has and logs the failed renewal once per back-off step.
func TestCAUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "down", pebbleOpts{Profiles: map[string]uint64{"shortlived": 20}})
	ctx := t.Context()
	logs := &logCapture{debug: true}
	cfg := e.config(false)
	cfg.Logger = logs.logger(t)
	cfg.Profile = "shortlived"
	m := newManager(t, e.db.Pool, cfg)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := m.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, m, nil)
	first, err := handshake(addr, "a."+e.base, e.ca.Root)
	if err != nil {
		t.Fatal(err)
	}
	e.ca.Stop()

	// The renewal of the wildcard fails and is logged as an error.
	failure := func() int { return logs.count("certificate renewal failed", "host=*."+e.base+" ") }
	condotest.WaitFor(t, 30*time.Second, "a logged renewal failure", func() error {
		if failure() == 0 {
			return errNotYet
		}
		return nil
	})
	// Still serving the same certificate (verified at a time it is valid).
	leaf, err := handshakeAt(addr, "a."+e.base, e.ca.Root, first.NotBefore.Add(time.Second))
	if err != nil {
		t.Fatalf("handshake after the CA went away: %v", err)
	}
	if leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Errorf("serving serial %x, want the old %x", leaf.SerialNumber, first.SerialNumber)
	}
	// The next attempt is a back-off step (1 minute) away: the renewal
	// checks that follow (one a second) each find the back-off and skip
	// the attempt, which certmagic logs at debug level. After three of
	// them there is still one failure and one log line.
	n := failure()
	skips := func() int {
		return logs.countAt(slog.LevelDebug, "renewal already failed recently; waiting for backoff")
	}
	s0 := skips()
	condotest.WaitFor(t, 30*time.Second, "three renewal checks that wait for the back-off", func() bool { return skips() >= s0+3 })
	if got := failure(); got != n {
		t.Errorf("failure logged %d times after three renewal checks, want %d: one log per back-off step", got, n)
	}
	if n != 1 {
		t.Errorf("failure logged %d times for the first attempt, want 1:\n%s", n, logs.dump())
	}
}

// TestWrongTSIGKey: a TSIG secret the DNS server does not know gives an
// error that says so, without the secret.
func TestWrongTSIGKey(t *testing.T) {
	t.Parallel()
	k := startKnot(t)
	ctx := t.Context()
	p := k.provider()
	p.Secret = "d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldCB3cm9uZyE="
	err := p.Present(ctx, condocert.DNSChallenge{Domain: "x.example.test", Name: "_acme-challenge.x.example.test", Value: "v"})
	if err == nil {
		t.Fatal("Present with a wrong TSIG secret succeeded")
	}
	if !strings.Contains(err.Error(), "TSIG") {
		t.Errorf("error does not mention TSIG: %v", err)
	}
	if strings.Contains(err.Error(), p.Secret) {
		t.Errorf("error contains the secret: %v", err)
	}
	t.Logf("error: %v", err)

	p.Secret = k.Secret
	p.KeyName = "other-key"
	if err := p.Present(ctx, condocert.DNSChallenge{Domain: "x.example.test", Name: "_acme-challenge.x.example.test", Value: "v"}); err == nil || !strings.Contains(err.Error(), "TSIG") {
		t.Errorf("unknown key name: got %v, want a TSIG error", err)
	}
}

// TestRFC2136SingleRecords: two values of one name are added and removed
// independently (the wildcard and apex challenges run at once).
func TestRFC2136SingleRecords(t *testing.T) {
	t.Parallel()
	k := startKnot(t)
	ctx := t.Context()
	p := k.provider()
	ch := func(v string) condocert.DNSChallenge {
		return condocert.DNSChallenge{Domain: "s.example.test", Name: "_acme-challenge.s.example.test", Value: v}
	}
	for _, v := range []string{"one", "two"} {
		if err := p.Present(ctx, ch(v)); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(slices.Sorted(slices.Values(lookupTXT(t, k.Addr, "_acme-challenge.s.example.test"))), ","); got != "one,two" {
		t.Fatalf("TXT after two inserts: got %q, want one,two", got)
	}
	if err := p.CleanUp(ctx, ch("one")); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(lookupTXT(t, k.Addr, "_acme-challenge.s.example.test"), ","); got != "two" {
		t.Fatalf("TXT after removing one: got %q, want two", got)
	}
}
