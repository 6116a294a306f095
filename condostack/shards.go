package condostack

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
)

// openRuntimeShards opens one pool per [Config].RuntimeShardURLs (sharded
// split roles, issue 15), each logged in as the runtime role of shard k of
// n, grants each role its shard's tenant roles and what else it lacks
// ([condo.GrantRuntime] with Shards and Shard), and makes them the
// tenant-affine pools tenant transactions run on. Runtime is shard 0's
// pool and SharedPool runs as its shared role.
//
// Why one login role per shard: PostgreSQL checks SET ROLE against the
// session's login role and computes all of its memberships on each new
// backend and after every GRANT (see the README's "How tenancy is
// enforced"), so only a login role with a bounded share of the tenant
// roles keeps a new connection's first request and the requests after a
// signup fast; one pool can log in as one role only.
func (s *Stack) openRuntimeShards(ctx context.Context) error {
	urls := s.cfg.RuntimeShardURLs
	n := len(urls)
	pools := make([]*pgxpool.Pool, 0, n)
	closeAll := func() {
		for _, p := range pools {
			p.Close()
		}
	}
	for k, url := range urls {
		pcfg, err := s.parse(fmt.Sprintf("runtime shard url %d", k), url)
		if err != nil {
			closeAll()
			return err
		}
		condo.ConfigurePool(pcfg, s.Pooler.Mode)
		pcfg.MaxConns, pcfg.MinConns = max(int32(s.cfg.PoolSize/n), 1), 0
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			closeAll()
			return fmt.Errorf("runtime shard %d: %w", k, err)
		}
		pools = append(pools, pool)
		var role string
		if err := pool.QueryRow(ctx, "SELECT current_user").Scan(&role); err != nil {
			closeAll()
			return fmt.Errorf("runtime shard %d: %w", k, err)
		}
		if _, err := condo.GrantRuntime(ctx, s.Pool, role, &condo.GrantRuntimeOpts{
			Tables: s.cfg.RuntimeGrants, Shards: n, Shard: k,
		}); err != nil {
			closeAll()
			return fmt.Errorf("runtime shard %d: %w", k, err)
		}
		if k == 0 {
			shared, err := condo.SharedRoleName(role)
			if err != nil {
				closeAll()
				return err
			}
			s.SharedPool = condo.NewSharedPool(pool, shared)
		}
	}
	s.Runtime = pools[0]
	s.TenantPools = condo.NewTenantPoolsOf(pools...)
	s.TenantPools.SetTimeouts(s.cfg.StatementTimeout, s.cfg.AcquireTimeout)
	return nil
}
