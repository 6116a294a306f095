package condo_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/condo-dev/condo"
)

// An in-process cache shared by every tenant: with CacheKey, acme and
// globex each get their own "dashboard" entry.
func ExampleCacheKey() {
	var cache sync.Map
	acme := condo.WithTenant(context.Background(), &condo.Tenant{ID: 1, Slug: "acme"})
	globex := condo.WithTenant(context.Background(), &condo.Tenant{ID: 2, Slug: "globex"})

	k, _ := condo.CacheKey(acme, "dashboard")
	cache.Store(k, "acme's numbers")

	k, _ = condo.CacheKey(globex, "dashboard")
	v, ok := cache.Load(k)
	fmt.Println(k, v, ok)

	_, err := condo.CacheKey(context.Background(), "dashboard")
	fmt.Println(errors.Is(err, condo.ErrNoTenant))
	// Output:
	// tenant_2:dashboard <nil> false
	// true
}
