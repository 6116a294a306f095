package condo_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
)

// TestDomainProof covers what condocert's verification asks of the
// registry: a domain's token, recording a proof (announced on the
// registry's channel, in the registry's one payload format), and the
// on-demand certificate decision.
func TestDomainProof(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	ctx := t.Context()
	acme := e.create(t, "acme", "ops.acme.test")
	e.create(t, "globex", "shop.globex.test")
	shop, err := e.reg.AddDomain(ctx, "acme", "Shop.Acme.TEST", &condo.DomainOpts{Unverified: true})
	if err != nil || shop.VerifyToken == "" {
		t.Fatalf("add unverified domain: %+v, %v", shop, err)
	}

	// Lookups normalise the host, and see the token.
	d, err := e.reg.Domain(ctx, "SHOP.acme.test.")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&condo.Domain{Host: "shop.acme.test", VerifyToken: shop.VerifyToken}, d); diff != "" {
		t.Errorf("Domain (-want +got):\n%s", diff)
	}
	for _, host := range []string{"nobody.test", "not a host", ""} {
		if _, err := e.reg.Domain(ctx, host); !errors.Is(err, condo.ErrDomainNotFound) {
			t.Errorf("Domain(%q): got %v, want ErrDomainNotFound", host, err)
		}
	}

	// The on-demand decision: verified domains of active tenants only.
	decide := func(host string) (int64, error) { return e.reg.ActiveDomainTenant(ctx, host) }
	if id, err := decide("OPS.acme.test"); err != nil || id != acme.ID {
		t.Errorf("verified domain: %d, %v; want %d", id, err, acme.ID)
	}
	for _, host := range []string{"shop.acme.test", "nobody.test", "10.0.0.1"} {
		if _, err := decide(host); !errors.Is(err, condo.ErrDomainNotFound) {
			t.Errorf("ActiveDomainTenant(%q): got %v, want ErrDomainNotFound", host, err)
		}
	}

	// A proof is recorded only with the domain's current token, and heard.
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{condo.NotifyChannel}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.ConfirmDomain(ctx, "shop.acme.test", "not-the-token"); !errors.Is(err, condo.ErrDomainNotFound) {
		t.Fatalf("wrong token: got %v, want ErrDomainNotFound", err)
	}
	at, err := e.reg.ConfirmDomain(ctx, "shop.acme.test", shop.VerifyToken)
	if err != nil || at.IsZero() {
		t.Fatalf("confirm: %v, %v", at, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := conn.Conn().WaitForNotification(wctx)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	var c condo.Change
	if err := json.Unmarshal([]byte(n.Payload), &c); err != nil {
		t.Fatalf("payload %q: %v", n.Payload, err)
	}
	if diff := cmp.Diff(condo.Change{Op: "domain", ID: acme.ID, Slug: "acme", Hosts: []string{"shop.acme.test"}}, c); diff != "" {
		t.Errorf("notification (-want +got):\n%s", diff)
	}
	// Verified by proof, the token is kept, so the proof can be checked again.
	if d, err := e.reg.Domain(ctx, "shop.acme.test"); err != nil || !d.Verified || d.VerifyToken != shop.VerifyToken {
		t.Errorf("after the proof: %+v, %v; want verified with its token", d, err)
	}
	if id, err := decide("shop.acme.test"); err != nil || id != acme.ID {
		t.Errorf("proven domain: %d, %v; want %d", id, err, acme.ID)
	}

	// A suspended tenant's domains get no certificate.
	if err := e.reg.Suspend(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := decide("ops.acme.test"); !errors.Is(err, condo.ErrDomainNotFound) {
		t.Errorf("suspended tenant: got %v, want ErrDomainNotFound", err)
	}
}
