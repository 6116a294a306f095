package condocert_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condocert"
)

func TestVerifyDomain(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	k := startKnot(t)
	reg := newRegistry(t, newDatabase(t))
	// bare was added by an operator: verified, with no token to check.
	tokens := addTenant(t, reg, "acme", condo.StatusActive, map[string]bool{"shop.customer.test": false, "web.customer.test": false, "nope.customer.test": false, "bare.customer.test": true})
	// shop proves control with DNS.
	name, value := condocert.VerificationRecord("shop.customer.test", tokens["shop.customer.test"])
	if err := k.provider().Present(ctx, condocert.DNSChallenge{Name: name, Value: value}); err != nil {
		t.Fatal(err)
	}
	// web points at us: our VerifyHandler answers its token.
	srv := httptest.NewServer(condocert.VerifyHandler(reg, http.NotFoundHandler()))
	defer srv.Close()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		// Only web.customer.test points at our server.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr != "web.customer.test:80" {
				return nil, errors.New("connection refused (test network)")
			}
			return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
		},
	}}
	opts := &condocert.VerifyOpts{Resolvers: []string{k.Addr}, HTTPClient: client}

	// The pair must match: another tenant's name, or none, verifies nothing.
	addTenant(t, reg, "globex", condo.StatusActive, nil)
	if _, err := condocert.VerifyDomain(ctx, reg, "shop.customer.test", &condocert.VerifyOpts{Resolvers: opts.Resolvers, Tenant: "globex"}); !errors.Is(err, condo.ErrDomainNotFound) {
		t.Fatalf("shop as globex's: got %v, want ErrDomainNotFound", err)
	}
	if _, err := condocert.VerifyDomain(ctx, reg, "shop.customer.test", &condocert.VerifyOpts{Resolvers: opts.Resolvers, Tenant: "nobody"}); !errors.Is(err, condo.ErrTenantNotFound) {
		t.Fatalf("shop as nobody's: got %v, want ErrTenantNotFound", err)
	}
	if d, _ := reg.Domain(ctx, "shop.customer.test"); d == nil || d.Verified {
		t.Fatalf("shop after the wrong pairs: %+v, want still unverified", d)
	}
	res, err := condocert.VerifyDomain(ctx, reg, "shop.customer.test", &condocert.VerifyOpts{Resolvers: opts.Resolvers, HTTPClient: client, Tenant: "acme"})
	if err != nil || res.Method != "dns" {
		t.Fatalf("shop: %+v, %v; want verified by dns", res, err)
	}
	res, err = condocert.VerifyDomain(ctx, reg, "web.customer.test", opts)
	if err != nil || res.Method != "http" {
		t.Fatalf("web: %+v, %v; want verified by http", res, err)
	}
	if _, err := condocert.VerifyDomain(ctx, reg, "nope.customer.test", opts); !errors.Is(err, condocert.ErrNotProven) {
		t.Fatalf("nope: got %v, want ErrNotProven", err)
	} else {
		t.Logf("nope: %v", err)
	}
	if _, err := condocert.VerifyDomain(ctx, reg, "bare.customer.test", opts); !errors.Is(err, condocert.ErrNoVerifyToken) {
		t.Fatalf("bare: got %v, want ErrNoVerifyToken", err)
	}
	if _, err := condocert.VerifyDomain(ctx, reg, "missing.customer.test", opts); !errors.Is(err, condo.ErrDomainNotFound) {
		t.Fatalf("missing: got %v, want ErrDomainNotFound", err)
	}
	for host, want := range map[string]bool{"shop.customer.test": true, "web.customer.test": true, "nope.customer.test": false} {
		d, err := reg.Domain(ctx, host)
		if err != nil || d.Verified != want || d.VerifyToken != tokens[host] {
			t.Errorf("%s: %+v, %v; want verified=%v with its token kept", host, d, err, want)
		}
	}
	// Another token for a pointed host is not answered.
	resp, err := client.Get("http://web.customer.test" + condocert.VerifyPath + "wrongtoken")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("wrong token: status %d, want 404", resp.StatusCode)
	}
}
