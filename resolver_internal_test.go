package condo

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/condo-dev/condo/condomigrate"
)

// BenchmarkResolveCached measures routing a Host header to a cached tenant
// with 100, 10,000 and 100,000 tenants in the cache: the cost must not
// grow with the number of tenants (W5). No database is involved: the cache
// is filled directly, as a warm server's would be.
func BenchmarkResolveCached(b *testing.B) {
	m, err := condomigrate.New(nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	reg := NewRegistry(nil, m, nil)
	for _, n := range []int{100, 10_000, 100_000} {
		b.Run(fmt.Sprintf("tenants=%d", n), func(b *testing.B) {
			r, err := NewResolver(reg, &ResolverConfig{BaseDomains: []string{"example.test"}, CacheSize: 2 * n})
			if err != nil {
				b.Fatal(err)
			}
			r.listen.Store(true)
			exp := time.Now().Add(time.Hour).UnixNano()
			hosts := make([]string, n)
			for i := range n {
				slug := fmt.Sprintf("t%05d", i+1)
				r.cache.put(cacheKey{name: slug}, &Tenant{ID: int64(i + 1), Slug: slug, Status: StatusActive}, exp, r.cacheGen())
				hosts[i] = slug + ".example.test"
			}
			ctx := context.Background()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				rt, err := r.Resolve(ctx, hosts[i%n])
				if err != nil || rt.Kind != RouteTenant {
					b.Fatalf("%s: %v %v", hosts[i%n], rt.Kind, err)
				}
				i += 7919
			}
		})
	}
}
