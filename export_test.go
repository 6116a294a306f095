package condo

import "context"

// RevokeOutsideShard is GrantRuntime's revoke of the tenant roles outside
// a runtime role's shard, with the batch size a test chooses (a few
// tenants, several batches).
func RevokeOutsideShard(ctx context.Context, db DBTX, rt string, shards, shard, batchSize int) (int, error) {
	return revokeOutsideShard(ctx, db, rt, shards, shard, batchSize)
}

// SetCacheMinGeneration lowers the least a cache sized to the tenants
// holds per generation (100,000 hosts in all), so a test can show it grow
// past it with a few tenants.
func SetCacheMinGeneration(r *Resolver, n int) { r.minGen = n }

// SetMovePoint makes r call f at the named points of a tier move
// ("target", "prepared", "copied", "finish", "switch"): the tests kill a
// move there.
func SetMovePoint(r *Registry, f func(ctx context.Context, point string)) { r.movePoint = f }
