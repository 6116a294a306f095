package condo

import (
	"context"
	"strconv"
)

// CacheKey returns key prefixed with the tenant in ctx ("tenant_42:" +
// key), for an application's cache, in process or Redis-compatible: two
// tenants asking for the same key get two entries, so one tenant's entry is
// never served to another. The prefix names the tenant's id, as its schema
// does: a rename keeps its entries and a new tenant never inherits a purged
// one's (ids are not reused). Returns [ErrNoTenant] without a tenant:
// Condo never falls back to a shared entry.
func CacheKey(ctx context.Context, key string) (string, error) {
	t, ok := TenantFromContext(ctx)
	if !ok {
		return "", ErrNoTenant
	}
	return CachePrefix(t) + key, nil
}

// CachePrefix is the prefix [CacheKey] gives t's keys, for operations on
// all of them (Redis's SCAN MATCH tenant_42:* when t is purged). No
// tenant's prefix is a prefix of another's: it ends with ':', which an id
// never contains.
func CachePrefix(t *Tenant) string {
	return "tenant_" + strconv.FormatInt(t.ID, 10) + ":"
}
