package condo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// DefaultPendingInterval is [PendingPoolConfig].Interval's default.
const DefaultPendingInterval = 5 * time.Second

// PendingPoolConfig configures a [PendingPool]. A nil *PendingPoolConfig
// is valid: a pool of size zero, which only purges.
type PendingPoolConfig struct {
	// Size is how many pending tenants to keep. Zero purges them all.
	// Instances sharing a database should agree on it: each purges what
	// is beyond its own size.
	Size int
	// Interval is how often [PendingPool.Run] looks at the pool when no
	// claim in this process woke it (claims by other instances, a fleet
	// migration that made pending tenants claimable). Defaults to
	// [DefaultPendingInterval].
	Interval time.Duration
	// Logger defaults to the registry's logger.
	Logger *slog.Logger
}

// PendingPool keeps a pool of pending tenants: ready-made tenants (schema,
// role, grants, every tenant migration) that [Registry.Create] claims on
// signup instead of running the DDL then, so signup takes one short
// transaction. Pending tenants are hidden from lookups, listings and
// counts unless asked for ([ListParams].Status [StatusPending],
// [Registry.PendingStats]); the fleet migrator migrates them like any
// tenant, so they stay claimable after a deploy.
//
// Several instances may run a pool over one database: each addition
// counts the pool under a transaction-level advisory lock in the
// transaction that adds, so they never overfill it.
type PendingPool struct{ stock }

// stock is what [PendingPool] and [RoleReserve] share: a stock of
// ready-made things of a registry kept at a size, looked at every
// interval and refilled by refillLoop.
type stock struct {
	reg      *Registry
	size     int
	interval time.Duration
	logger   *slog.Logger
}

// newStock checks a stock's registry and size (programmer errors: it
// panics, naming the constructor what) and applies the defaults.
func newStock(what string, reg *Registry, size int, interval, defaultInterval time.Duration, logger *slog.Logger) stock {
	if reg == nil {
		panic("condo: " + what + " needs a registry")
	}
	if size < 0 {
		panic(fmt.Sprintf("condo: %s: size %d is negative", what, size))
	}
	return stock{reg: reg, size: size, interval: cmp.Or(interval, defaultInterval), logger: cmp.Or(logger, reg.logger)}
}

// FillResult is what one [PendingPool.Fill] did.
type FillResult struct {
	// Made counts the pending tenants added, Purged those removed (the
	// pool had shrunk).
	Made, Purged int
}

// NewPendingPool returns a pool of pending tenants of reg. It panics if
// reg is nil or the size is negative (programmer errors).
func NewPendingPool(reg *Registry, cfg *PendingPoolConfig) *PendingPool {
	if cfg == nil {
		cfg = &PendingPoolConfig{}
	}
	return &PendingPool{newStock("NewPendingPool", reg, cfg.Size, cfg.Interval, DefaultPendingInterval, cfg.Logger)}
}

// Size returns the number of pending tenants the pool keeps.
func (p *PendingPool) Size() int { return p.size }

// Fill brings the pool to its size once: it purges the pending tenants
// beyond it, then adds pending tenants one transaction at a time until
// there are size of them (counting those of every version and those other
// instances add). It returns what it did, also on error.
func (p *PendingPool) Fill(ctx context.Context) (FillResult, error) {
	var res FillResult
	surplus, err := p.reg.pendingSurplus(ctx, p.size)
	if err != nil {
		return res, err
	}
	for _, slug := range surplus {
		// A tenant claimed meanwhile has another slug now: not found.
		err := p.reg.purge(ctx, slug, lockPending)
		if errors.Is(err, ErrTenantNotFound) {
			continue
		}
		if err != nil {
			return res, err
		}
		res.Purged++
	}
	for {
		// A cheap look first: the locked count in createPending is the
		// one that decides, at the price of a tenant's DDL when it
		// finds the pool full.
		s, err := p.reg.PendingStats(ctx)
		if err != nil {
			return res, err
		}
		if s.Total >= p.size {
			return res, nil
		}
		made, err := p.reg.createPending(ctx, p.size)
		if err != nil || !made {
			return res, err
		}
		res.Made++
	}
}

// Run keeps the pool filled until ctx is done, then returns nil: it fills
// it, and again after each claim in this process and every Interval. A
// failed fill is logged and tried again at the next wake-up (the database
// may be restarting); Run is a loop at the edge, so it logs instead of
// returning.
func (p *PendingPool) Run(ctx context.Context) error {
	return refillLoop(ctx, p.interval, p.reg.claimed, func(ctx context.Context) error {
		res, err := p.Fill(ctx)
		if err != nil {
			p.logger.LogAttrs(ctx, slog.LevelWarn, "pending tenants refill", slog.String("error", err.Error()))
		} else if res.Made > 0 || res.Purged > 0 {
			p.logger.LogAttrs(ctx, slog.LevelDebug, "pending tenants refilled",
				slog.Int("made", res.Made), slog.Int("purged", res.Purged), slog.Int("size", p.size))
		}
		return nil
	})
}

// refillLoop is the loop of [PendingPool.Run] and [RoleReserve.Run],
// which keep a stock of ready-made things topped up from the edge: it
// runs fill now, after each wake-up from wake and every interval, until
// ctx is done (then it returns nil) or fill returns an error. fill logs
// what it did and the errors worth another try (the database may be
// restarting), and returns only those no later try would mend.
func refillLoop(ctx context.Context, interval time.Duration, wake <-chan struct{}, fill func(context.Context) error) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		err := fill(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-tick.C:
		}
	}
}
