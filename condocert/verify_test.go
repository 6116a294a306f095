package condocert_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/condo-dev/condo/condocert"
)

func TestVerifyDomain(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	k := startKnot(t)
	pool := newDatabase(t)
	addTenant(t, pool, "acme", "active", map[string]bool{"shop.customer.test": false, "web.customer.test": false, "nope.customer.test": false, "bare.customer.test": false})
	tokens := map[string]string{}
	for _, h := range []string{"shop.customer.test", "web.customer.test", "nope.customer.test"} {
		tokens[h] = condocert.NewVerifyToken()
		if _, err := pool.Exec(ctx, `UPDATE public.condo_domains SET verify_token = $2 WHERE host = $1`, h, tokens[h]); err != nil {
			t.Fatal(err)
		}
	}
	// shop proves control with DNS.
	name, value := condocert.VerificationRecord("shop.customer.test", tokens["shop.customer.test"])
	if err := k.provider().Present(ctx, condocert.DNSChallenge{Name: name, Value: value}); err != nil {
		t.Fatal(err)
	}
	// web points at us: our VerifyHandler answers its token.
	srv := httptest.NewServer(condocert.VerifyHandler(pool, http.NotFoundHandler()))
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

	res, err := condocert.VerifyDomain(ctx, pool, "shop.customer.test", opts)
	if err != nil || res.Method != "dns" {
		t.Fatalf("shop: %+v, %v; want verified by dns", res, err)
	}
	res, err = condocert.VerifyDomain(ctx, pool, "web.customer.test", opts)
	if err != nil || res.Method != "http" {
		t.Fatalf("web: %+v, %v; want verified by http", res, err)
	}
	if _, err := condocert.VerifyDomain(ctx, pool, "nope.customer.test", opts); !errors.Is(err, condocert.ErrNotProven) {
		t.Fatalf("nope: got %v, want ErrNotProven", err)
	} else {
		t.Logf("nope: %v", err)
	}
	if _, err := condocert.VerifyDomain(ctx, pool, "bare.customer.test", opts); !errors.Is(err, condocert.ErrNoVerifyToken) {
		t.Fatalf("bare: got %v, want ErrNoVerifyToken", err)
	}
	if _, err := condocert.VerifyDomain(ctx, pool, "missing.customer.test", opts); !errors.Is(err, condocert.ErrDomainNotFound) {
		t.Fatalf("missing: got %v, want ErrDomainNotFound", err)
	}
	var verified []string
	rows, _ := pool.Query(ctx, `SELECT host FROM public.condo_domains WHERE verified_at IS NOT NULL ORDER BY host`)
	for rows.Next() {
		var h string
		_ = rows.Scan(&h)
		verified = append(verified, h)
	}
	if len(verified) != 2 || verified[0] != "shop.customer.test" || verified[1] != "web.customer.test" {
		t.Errorf("verified domains: %q, want shop and web", verified)
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
