package condo

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TenantPools splits a connection pool into n smaller pools and gives
// each tenant always the same one (by tenant id), so that every database
// connection serves only 1/n of the tenants.
//
// Why: a PostgreSQL backend caches the catalog entries (relations, indexes,
// plans' metadata) of every schema it has touched. With one shared pool and
// thousands of tenants, each connection keeps meeting tenants it has not
// seen yet, pays for loading their catalog entries, and ends up holding all
// of them: per-connection memory grows with the number of tenants, and so
// does latency. With tenant-affine pools each backend's working set is the
// tenants of its pool. With 10,000 tenants on the bench machine, 16 pools
// of one connection served nearly twice the requests per second of one
// pool of 16 (BENCHMARKS.md, W5).
//
// The cost is less sharing: a tenant's queries wait for its own pool's
// connections even when others are idle, so keep at least two connections
// per pool when tenants run slow queries.
type TenantPools struct {
	pools  []*pgxpool.Pool
	named  bool // QueryTenant may prepare statements (no transaction pooler)
	limits atomic.Pointer[queryLimits]
}

// NewTenantPools opens n pools from cfg, each with cfg.MaxConns/n
// connections (at least one), and cfg.MinConns/n kept open. It returns an
// error if n < 1 or if a pool cannot be created.
func NewTenantPools(ctx context.Context, cfg *pgxpool.Config, n int) (*TenantPools, error) {
	if n < 1 {
		return nil, errors.New("tenant pools: n must be at least 1")
	}
	p := &TenantPools{named: namedStatements(cfg.ConnConfig.DefaultQueryExecMode)}
	p.SetTimeouts(0, 0)
	for i := range n {
		c := cfg.Copy()
		c.MaxConns = max(cfg.MaxConns/int32(n), 1)
		c.MinConns = min(cfg.MinConns/int32(n), c.MaxConns)
		pool, err := pgxpool.NewWithConfig(ctx, c)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("tenant pool %d: %w", i, err)
		}
		p.pools = append(p.pools, pool)
	}
	return p, nil
}

// NewTenantPoolsOf returns tenant-affine pools over pools (at least one):
// pool i serves the tenants whose id % len(pools) == i. Each may log in as
// its own runtime role prepared with [GrantRuntime] and
// [GrantRuntimeOpts].Shards = len(pools), Shard = i: a member of only that
// share of the tenant roles, which keeps the membership PostgreSQL
// computes on each new backend (and again after every GRANT) bounded by
// the share, not by all tenants. Close closes pools. It panics when pools
// is empty (a programmer error).
func NewTenantPoolsOf(pools ...*pgxpool.Pool) *TenantPools {
	if len(pools) == 0 {
		panic("condo: NewTenantPoolsOf needs a pool")
	}
	p := &TenantPools{pools: pools, named: namedStatements(pools[0].Config().ConnConfig.DefaultQueryExecMode)}
	for _, pool := range pools[1:] {
		p.named = p.named && namedStatements(pool.Config().ConnConfig.DefaultQueryExecMode)
	}
	p.SetTimeouts(0, 0)
	return p
}

// For returns the pool of tenant t.
func (p *TenantPools) For(t *Tenant) *pgxpool.Pool {
	return p.pools[uint64(t.ID)%uint64(len(p.pools))]
}

// poolFor is the pool that runs tenant t's transactions and queries: its
// tenant-affine pool when the registry has [RegistryConfig].TenantPools.
func (r *Registry) poolFor(t *Tenant) *pgxpool.Pool {
	if r.tpools != nil {
		return r.tpools.For(t)
	}
	return r.tenantPool()
}

// QueryTenant is [Registry.QueryTenant] on the pool of the tenant in ctx.
// Returns [ErrNoTenant] when ctx has no tenant.
func (p *TenantPools) QueryTenant(ctx context.Context, fn func(pgx.Rows) error, sql string, args ...any) error {
	acquireFor := func(ctx context.Context, t *Tenant, d time.Duration) (*pgxpool.Conn, func(), bool, error) {
		return acquireShared(ctx, p.For(t), d, !p.named)
	}
	return queryTenant(ctx, acquireFor, p.limits.Load(), fn, sql, args)
}

// SetTimeouts sets the statement and acquire timeouts of QueryTenant, as
// [RegistryConfig].StatementTimeout and AcquireTimeout do for a registry.
// Both are zero (off) until set. It is safe to call at any time.
func (p *TenantPools) SetTimeouts(statement, acquire time.Duration) {
	p.limits.Store(&queryLimits{statement: statement, acquire: acquire})
}

// Close closes every pool.
func (p *TenantPools) Close() {
	for _, pool := range p.pools {
		pool.Close()
	}
}
