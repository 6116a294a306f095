package condo

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// DefaultReserveInterval is [RoleReserveConfig].Interval's default.
const DefaultReserveInterval = 10 * time.Second

// RoleReserveConfig configures a [RoleReserve]. A nil *RoleReserveConfig
// is valid: a reserve of size zero, which only drops.
type RoleReserveConfig struct {
	// Size is how many tenant roles to keep reserved. Zero drops them
	// all. Instances sharing a database should agree on it: each drops
	// what is beyond its own size.
	Size int
	// Interval is how often [RoleReserve.Run] looks at the reserve when
	// no creation in this process woke it (creations by other
	// instances). Defaults to [DefaultReserveInterval].
	Interval time.Duration
	// Logger defaults to the registry's logger.
	Logger *slog.Logger
}

// RoleReserve keeps a reserve of tenant roles ([Registry.ReserveRoles])
// for [Registry.Create] to take, refilled in batches: PostgreSQL makes
// every backend of every runtime role recompute its memberships after
// each commit that creates or grants a role, and a batch costs that once.
// Worth it with many tenants (thousands per runtime role) and signups
// while serving; see the README's "Tenant roles at scale".
//
// It refills only once the reserve has fallen below half its size (the
// low watermark), so those resets come once per Size/2 creations rather
// than after each. Not on Citus ([ErrRoleReserveUnsupported]).
type RoleReserve struct{ stock }

// NewRoleReserve returns a role reserve of reg. It panics if reg is nil or
// the size is negative (programmer errors).
func NewRoleReserve(reg *Registry, cfg *RoleReserveConfig) *RoleReserve {
	if cfg == nil {
		cfg = &RoleReserveConfig{}
	}
	return &RoleReserve{newStock("NewRoleReserve", reg, cfg.Size, cfg.Interval, DefaultReserveInterval, cfg.Logger)}
}

// Size returns the number of tenant roles the reserve keeps.
func (v *RoleReserve) Size() int { return v.size }

// lowWatermark is the count below which Fill refills: half the size, at
// least one.
func (v *RoleReserve) lowWatermark() int { return max(v.size/2, 1) }

// Fill refills the reserve to its size when it is below the low
// watermark (half its size), and drops what is beyond its size; otherwise
// it does nothing (a cheap count). It returns what it did, also on error.
// Returns [ErrRoleReserveUnsupported] on Citus.
func (v *RoleReserve) Fill(ctx context.Context) (ReserveResult, error) {
	have, err := v.reg.reserveCount(ctx)
	if err != nil {
		return ReserveResult{}, err
	}
	if have >= v.lowWatermark() && have <= v.size {
		return ReserveResult{}, nil
	}
	return v.reg.ReserveRoles(ctx, v.size)
}

// Run keeps the reserve filled until ctx is done, then returns nil: it
// fills it, and again after each creation in this process that took a
// reserved role and every Interval. A failed fill is logged and tried
// again at the next wake-up (the database may be restarting); Run is a
// loop at the edge, so it logs instead of returning. It returns
// [ErrRoleReserveUnsupported] at once on Citus: no later try would do
// better.
func (v *RoleReserve) Run(ctx context.Context) error {
	return refillLoop(ctx, v.interval, v.reg.reserveTaken, func(ctx context.Context) error {
		res, err := v.Fill(ctx)
		if errors.Is(err, ErrRoleReserveUnsupported) {
			return err
		}
		if err != nil {
			v.logger.LogAttrs(ctx, slog.LevelWarn, "tenant role reserve refill", slog.String("error", err.Error()))
		} else if res.Made > 0 || res.Dropped > 0 {
			v.logger.LogAttrs(ctx, slog.LevelInfo, "tenant role reserve refilled",
				slog.Int("made", res.Made), slog.Int("dropped", res.Dropped), slog.Int("size", v.size))
		}
		return nil
	})
}
