package condo

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// tierPools are the connection pools of database-tier tenants: one
// pgxpool per tenant, logging in as the tenant's role to its database,
// made on first use and closed when idle.
//
// The global cap bounds the connections of all of them together. Each
// pool reserves its MaxConns from the cap while it exists: simpler than
// counting open connections across pgxpool's own bookkeeping, and as
// strict (a pool can never open more than it reserved). A new pool that
// does not fit closes the least recently used idle pool (no connection
// acquired, nobody about to acquire one); when every pool is busy, it
// waits for one to go idle, for at most the acquire timeout, then returns
// [ErrDatabaseUnavailable].
type tierPools struct {
	ts        *tierState
	perTenant int32
	capConns  int
	idle      time.Duration
	logger    *slog.Logger

	mu       sync.Mutex
	pools    map[int64]*tierPool
	reserved int           // sum of the pools' MaxConns
	wake     chan struct{} // closed (and replaced) when a pool goes idle or is closed
	closed   bool
	afterGet atomic.Pointer[func(id int64, p *tierPool)] // tests only: runs between get and the acquire (no lock on the way)
	stop     chan struct{}                               // closes the sweeper; nil until it runs
	swept    chan struct{}                               // closed when the sweeper returned
}

type tierPool struct {
	pool     *pgxpool.Pool
	key      string // what the pool logs in as; a change makes a new pool
	lastUsed time.Time
	users    int  // callers from finding the pool to releasing its connection
	evicted  bool // closed or closing (tenant moved, purged, pool stale): set under mu
}

func newTierPools(ts *tierState, cfg *RegistryConfig) *tierPools {
	return &tierPools{
		ts:        ts,
		perTenant: cmp.Or(cfg.TierPoolConns, 2),
		capConns:  cmp.Or(cfg.TierMaxConns, 100),
		idle:      cmp.Or(cfg.TierIdleTime, 5*time.Minute),
		logger:    cmp.Or(cfg.Logger, slog.Default()),
		pools:     map[int64]*tierPool{},
		wake:      make(chan struct{}),
	}
}

// signal wakes every waiter. Call with mu held.
func (tp *tierPools) signal() {
	close(tp.wake)
	tp.wake = make(chan struct{})
}

// acquire returns a connection of t's pool, making the pool when needed,
// and the function that releases it (instead of conn.Release): the pool
// counts as in use until then. unnamed reports that the pool must not
// prepare named statements. It waits at most d (when positive) for room
// under the cap and for a connection.
func (tp *tierPools) acquire(ctx context.Context, t *Tenant, d time.Duration) (conn *pgxpool.Conn, release func(), unnamed bool, err error) {
	start := time.Now()
	p, err := tp.get(ctx, t, d)
	if err != nil {
		return nil, nil, false, err
	}
	if hook := tp.afterGet.Load(); hook != nil {
		(*hook)(t.ID, p)
	}
	done := func() {
		tp.mu.Lock()
		p.users--
		p.lastUsed = time.Now()
		tp.signal() // the pool may be idle now: waiters may evict it
		tp.mu.Unlock()
	}
	if d > 0 {
		d = max(d-time.Since(start), time.Millisecond)
	}
	conn, err = acquire(ctx, p.pool, d)
	if err != nil {
		tp.mu.Lock()
		evicted := p.evicted
		tp.mu.Unlock()
		done()
		if evicted && ctx.Err() == nil {
			// A move's switch (or a purge) closed the pool between get
			// and this acquire: pgxpool says "closed pool". Said as the
			// database being unavailable, it is what Registry.InTx and
			// QueryTenant retry at the tenant's new place.
			return nil, nil, false, fmt.Errorf("%w: tenant %q's pool was closed (moved or purged): %v", ErrDatabaseUnavailable, t.Slug, err)
		}
		return nil, nil, false, err
	}
	release = func() {
		conn.Release()
		done()
	}
	return conn, release, !namedStatements(p.pool.Config().ConnConfig.DefaultQueryExecMode), nil
}

// get returns t's pool with users counted, making it (within the cap)
// when there is none.
func (tp *tierPools) get(ctx context.Context, t *Tenant, d time.Duration) (*tierPool, error) {
	key := t.Server + "\x00" + t.Database + "\x00" + t.Role + "\x00" + string(t.SealedPassword)
	var deadline <-chan time.Time
	if d > 0 {
		tm := time.NewTimer(d)
		defer tm.Stop()
		deadline = tm.C
	}
	for {
		tp.mu.Lock()
		if tp.closed {
			tp.mu.Unlock()
			return nil, fmt.Errorf("%w: registry closed", ErrDatabaseUnavailable)
		}
		p := tp.pools[t.ID]
		if p != nil && p.key != key {
			// Moved, or its password changed: this pool is stale.
			tp.evictLocked(t.ID, p)
			p = nil
		}
		if p != nil {
			p.users++
			p.lastUsed = time.Now()
			tp.mu.Unlock()
			return p, nil
		}
		if tp.reserved+int(tp.perTenant) > tp.capConns {
			if victim, id := tp.lruIdleLocked(); victim != nil {
				tp.evictLocked(id, victim)
				tp.mu.Unlock()
				continue
			}
			wake := tp.wake
			tp.mu.Unlock()
			select {
			case <-wake:
				continue
			case <-deadline:
				return nil, fmt.Errorf("%w: no database-tier connection within %s (cap of %d connections in use)", ErrDatabaseUnavailable, d, tp.capConns)
			case <-ctx.Done():
				return nil, dbError(ctx.Err())
			}
		}
		cfg, err := tp.poolConfig(t)
		if err != nil {
			tp.mu.Unlock()
			return nil, err
		}
		// NewWithConfig connects lazily (MinConns 0): no I/O under mu.
		pool, err := pgxpool.NewWithConfig(context.WithoutCancel(ctx), cfg)
		if err != nil {
			tp.mu.Unlock()
			return nil, fmt.Errorf("tenant %q pool: %w", t.Slug, err)
		}
		p = &tierPool{pool: pool, key: key, lastUsed: time.Now(), users: 1}
		tp.pools[t.ID] = p
		tp.reserved += int(cfg.MaxConns)
		if tp.stop == nil {
			tp.stop, tp.swept = make(chan struct{}), make(chan struct{})
			go tp.sweeper(tp.stop, tp.swept)
		}
		tp.mu.Unlock()
		return p, nil
	}
}

// poolConfig is the config of t's pool: the server's, logging in as t's
// role with its password to its database.
func (tp *tierPools) poolConfig(t *Tenant) (*pgxpool.Config, error) {
	sc, err := tp.ts.server(t.Server)
	if err != nil {
		return nil, err
	}
	pw, err := tp.ts.password(t)
	if err != nil {
		return nil, err
	}
	cfg := sc.Copy()
	cfg.ConnConfig.User = t.Role
	cfg.ConnConfig.Password = pw
	cfg.ConnConfig.Database = t.Database
	cfg.MaxConns, cfg.MinConns = tp.perTenant, 0
	cfg.MaxConnIdleTime = tp.idle
	return cfg, nil
}

// lruIdleLocked returns the least recently used pool nobody uses.
func (tp *tierPools) lruIdleLocked() (*tierPool, int64) {
	var victim *tierPool
	var vid int64
	for id, p := range tp.pools {
		if p.users > 0 {
			continue
		}
		if victim == nil || p.lastUsed.Before(victim.lastUsed) {
			victim, vid = p, id
		}
	}
	return victim, vid
}

// evictLocked forgets pool p of tenant id and closes it. An idle pool
// closes at once (pgxpool's Close waits for a connection whose release is
// still under way, which takes no lock of ours); a busy (stale) one waits
// for its connections in the background and gives its share of the cap
// back then.
func (tp *tierPools) evictLocked(id int64, p *tierPool) {
	delete(tp.pools, id)
	p.evicted = true
	n := int(p.pool.Config().MaxConns)
	if p.users == 0 {
		p.pool.Close()
		tp.reserved -= n
		tp.signal()
		return
	}
	go func() {
		p.pool.Close()
		tp.mu.Lock()
		tp.reserved -= n
		tp.signal()
		tp.mu.Unlock()
	}()
}

// forget closes tenant id's pool, if any (purge, move).
func (tp *tierPools) forget(id int64) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if p := tp.pools[id]; p != nil {
		tp.evictLocked(id, p)
	}
}

// forgetMoved closes tenant id's pool unless it is of its new place (a
// move between tiers; server and database are "" for the schema tier): a
// request may have opened the new place's pool already.
func (tp *tierPools) forgetMoved(id int64, server, database string) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if p := tp.pools[id]; p != nil && !strings.HasPrefix(p.key, server+"\x00"+database+"\x00") {
		tp.evictLocked(id, p)
	}
}

// sweep closes the pools unused since before now - idle, and returns how
// many it closed.
func (tp *tierPools) sweep(now time.Time) int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	n := 0
	for id, p := range tp.pools {
		if p.users == 0 && now.Sub(p.lastUsed) >= tp.idle {
			tp.evictLocked(id, p)
			n++
		}
	}
	return n
}

func (tp *tierPools) sweeper(stop, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(max(tp.idle/2, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			if n := tp.sweep(now); n > 0 {
				tp.logger.LogAttrs(context.Background(), slog.LevelDebug, "idle tenant pools closed", slog.Int("pools", n))
			}
		}
	}
}

// stats returns how many pools are open and how many connections they
// reserve from the cap.
func (tp *tierPools) stats() (pools, reserved int) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return len(tp.pools), tp.reserved
}

// close closes every pool and stops the sweeper. Acquires after it fail.
func (tp *tierPools) close() {
	tp.mu.Lock()
	if tp.closed {
		tp.mu.Unlock()
		return
	}
	tp.closed = true
	var busy []*pgxpool.Pool
	for id, p := range tp.pools {
		delete(tp.pools, id)
		busy = append(busy, p.pool)
	}
	tp.reserved = 0
	tp.signal()
	stop, swept := tp.stop, tp.swept
	tp.mu.Unlock()
	if stop != nil {
		close(stop)
		<-swept
	}
	for _, p := range busy {
		p.Close()
	}
}
