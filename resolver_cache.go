package condo

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// cacheGen is the cache generation a lookup reads before its query: an
// answer is only cached if no change (eviction, flush) came in between.
func (r *Resolver) cacheGen() uint64 {
	if r.cache == nil {
		return 0
	}
	return r.cache.generation()
}

// defaultCacheSize is the fewest hosts a cache sized to the tenants holds
// (ResolverConfig.CacheSize zero); maxAutoCache the most tenants its
// preload reads, a bound on the memory a runaway table can take.
const (
	defaultCacheSize = 100_000
	maxAutoCache     = 5_000_000
)

// preload fills the cache with the tenants (by slug, and by verified
// custom domain), up to what one cache generation holds, so that the first
// requests after a start or a reconnect do not each cost a query: a fleet
// restarted under load would otherwise send the database one query per
// host at once. A cache sized to the tenants first grows so that one
// generation holds them all with a quarter to spare: at 100,000 tenants a
// fixed 100,000 hosts (50,000 a generation) preloaded a quarter to half of
// them and sent every other host's first request to the database, and
// kept rotating its generations under traffic spread over all of them. It
// runs while the listener listens, with the generation read first, so a
// change during the query is not lost (the entries are then simply not
// cached). A failure is logged: lookups still work.
func (r *Resolver) preload(ctx context.Context) {
	if r.cache == nil {
		return
	}
	gen := r.cacheGen()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	limit := r.cache.capacity()
	if r.autoSize {
		limit = maxAutoCache
	}
	rows, err := r.reg.recentTenantRows(ctx, limit)
	if err != nil {
		r.logger.LogAttrs(ctx, slog.LevelWarn, "host cache preload", slog.String("error", err.Error()))
		return
	}
	defer rows.Close()
	type entry struct {
		k cacheKey
		t *Tenant
	}
	var entries []entry
	for len(entries) < limit && rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			r.logger.LogAttrs(ctx, slog.LevelWarn, "host cache preload", slog.String("error", err.Error()))
			return
		}
		entries = append(entries, entry{cacheKey{name: t.Slug}, t})
		for _, d := range t.Domains {
			// A domain under a base domain is routed by its label (the
			// slug), never looked up as a host: caching it would only take
			// a tenant's room.
			if d.Verified && !r.underBase(d.Host) {
				entries = append(entries, entry{cacheKey{host: true, name: d.Host}, t})
			}
		}
	}
	if err := rows.Err(); err != nil {
		r.logger.LogAttrs(ctx, slog.LevelWarn, "host cache preload", slog.String("error", err.Error()))
		return
	}
	if r.autoSize {
		r.cache.grow(max(r.minGen, len(entries)+len(entries)/4))
	}
	entries = entries[:min(len(entries), r.cache.capacity())]
	// Spread the entries' expiry over the second half of the TTL: entries
	// loaded together would otherwise all expire together, and the herd
	// of queries this avoids would come back one TTL later.
	now := time.Now().UnixNano()
	half := max(r.ttl/2, 0)
	for _, e := range entries {
		r.cache.put(e.k, e.t, now+half+rand.Int64N(half+1), gen)
	}
	r.logger.LogAttrs(ctx, slog.LevelDebug, "host cache preloaded", slog.Int("hosts", len(entries)),
		slog.Int("capacity", 2*r.cache.capacity()), slog.Duration("took", time.Since(start)))
}

// underBase reports whether host (normalised) is a name under one of the
// base domains, which Resolve routes by label.
func (r *Resolver) underBase(host string) bool {
	for _, base := range r.bases {
		if len(host) > len(base)+1 && host[len(host)-len(base)-1] == '.' && strings.HasSuffix(host, base) {
			return true
		}
	}
	return false
}

func (r *Resolver) flush() {
	if r.cache != nil {
		r.cache.flush()
	}
}

// cacheKey is a slug (a subdomain of any base domain) or a custom host.
type cacheKey struct {
	host bool
	name string
}

type cacheEntry struct {
	t       *Tenant // nil: no such tenant
	expires int64   // unix nanoseconds
}

// hostCache is a bounded map in two generations: entries go into cur; when
// cur is full it becomes old and a new cur starts; a hit in old moves the
// entry to cur. Recently used entries survive, the rest are dropped a
// generation at a time, and every operation is O(1) (eviction by tenant
// id, on a notification, scans the entries).
type hostCache struct {
	mu       sync.RWMutex
	cur, old map[cacheKey]cacheEntry
	max      int // per generation
	gen      uint64
}

func newHostCache(size int) *hostCache {
	return &hostCache{cur: map[cacheKey]cacheEntry{}, old: map[cacheKey]cacheEntry{}, max: max(size/2, 1)}
}

func (c *hostCache) get(k cacheKey, now int64) (*Tenant, bool) {
	c.mu.RLock()
	e, ok := c.cur[k]
	if !ok {
		e, ok = c.old[k]
		c.mu.RUnlock()
		if !ok || e.expires <= now {
			return nil, false
		}
		c.mu.Lock()
		if _, stillOld := c.old[k]; stillOld {
			delete(c.old, k)
			c.putLocked(k, e)
		}
		c.mu.Unlock()
		return e.t, true
	}
	c.mu.RUnlock()
	if e.expires <= now {
		return nil, false
	}
	return e.t, true
}

// capacity is how many entries one generation holds.
func (c *hostCache) capacity() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.max
}

// grow lets a generation hold n entries, if that is more than it does.
func (c *hostCache) grow(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.max = max(c.max, n)
}

func (c *hostCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

func (c *hostCache) put(k cacheKey, t *Tenant, expires int64, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	delete(c.old, k)
	c.putLocked(k, cacheEntry{t: t, expires: expires})
}

func (c *hostCache) putLocked(k cacheKey, e cacheEntry) {
	if _, ok := c.cur[k]; !ok && len(c.cur) >= c.max {
		c.old, c.cur = c.cur, make(map[cacheKey]cacheEntry, c.max)
	}
	c.cur[k] = e
}

func (c *hostCache) evict(id int64, keys []cacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, m := range []map[cacheKey]cacheEntry{c.cur, c.old} {
		for _, k := range keys {
			delete(m, k)
		}
		if id != 0 {
			for k, e := range m {
				if e.t != nil && e.t.ID == id {
					delete(m, k)
				}
			}
		}
	}
}

func (c *hostCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.cur, c.old = map[cacheKey]cacheEntry{}, map[cacheKey]cacheEntry{}
}

func (c *hostCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.cur) + len(c.old)
}
