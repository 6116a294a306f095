package condostack

import (
	"context"
	"fmt"
	"log/slog"
)

// citusTenantPools returns how many tenant-affine pools to open and whether
// the database is a Citus coordinator. On plain PostgreSQL that is
// configured, the pools serving the application's tenant reads.
//
// On Citus each coordinator backend keeps a worker connection per tenant
// role it has run, so tenant transactions on one shared pool multiply the
// workers' connections by the tenants (README, "Isolation on Citus"). There
// the registry runs tenant transactions and queries on tenant-affine pools
// too, one connection each (PoolSize pools) unless configured otherwise, so
// each tenant role holds one worker connection.
func (s *Stack) citusTenantPools(ctx context.Context, configured int) (int, bool, error) {
	var version string
	err := s.Pool.QueryRow(ctx, "SELECT COALESCE((SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'citus'), '')").Scan(&version)
	if err != nil {
		return 0, false, fmt.Errorf("detect citus: %w", err)
	}
	if version == "" {
		return configured, false, nil
	}
	n := configured
	if n == 0 {
		n = s.cfg.PoolSize
	}
	s.Logger.LogAttrs(ctx, slog.LevelInfo, "citus coordinator: tenant transactions on tenant-affine pools",
		slog.String("citus", version), slog.Int("pools", n), slog.Int("connections", s.cfg.PoolSize))
	return n, true, nil
}
