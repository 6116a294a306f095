package main

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/condo-dev/condo"
)

// A signup with pending tenants ready lands on one of them (the claim, no
// DDL on the request), seeded by the app's creation hook like any other
// tenant, and its hotels work; the pool is hidden from the app.
func TestSignupClaimsPending(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, &appOpts{pending: 2})
	ctx := context.Background()
	l, err := ta.env.Registry.List(ctx, condo.ListParams{Status: condo.StatusPending})
	if err != nil || len(l.Tenants) != 2 {
		t.Fatalf("pending tenants: %v, %v; want 2", l, err)
	}
	if c, err := ta.env.Registry.Counts(ctx); err != nil || c.Active != 0 {
		t.Fatalf("tenants before the signup: %+v, %v; want none", c, err)
	}
	c := ta.client()
	p := c.submit(ta.url("", "/signup"), ta.url("", "/signup"), signupForm("Sunny Stays", "sunny", "owner@example.com", testPassword))
	want(t, p, http.StatusOK, "Welcome to Sunny Stays", "No hotels yet")
	sunny, err := ta.env.Registry.Get(ctx, "sunny")
	if err != nil || sunny.ID != l.Tenants[0].ID || !sunny.OnTrial || sunny.PaidUntil == nil {
		t.Fatalf("sunny = %+v, %v; want the pending tenant %d, on trial", sunny, err, l.Tenants[0].ID)
	}
	u := func(p string) string { return ta.url("sunny", p) }
	p = c.submit(u("/hotels/new"), u("/hotels/new"), url.Values{"name": {"Seaside"}, "city": {"Nice"}, "stars": {"4"}})
	want(t, p, http.StatusOK, `Added hotel "Seaside"`, "Nice")
	ta.hotelID(sunny, "Seaside")
	if c, err := ta.env.Registry.Counts(ctx); err != nil || c.Active != 1 {
		t.Fatalf("tenants after the signup: %+v, %v; want 1", c, err)
	}
	// The other pending tenant is no host's tenant.
	if _, err := ta.env.Resolver.Resolve(ctx, l.Tenants[1].Slug+".localhost"); err == nil {
		t.Fatalf("%s resolves", l.Tenants[1].Slug)
	}
	ta.noErrors()
}
