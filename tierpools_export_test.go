package condo

import "time"

// Hooks for the external tests (package condo_test) into the
// database tier's pools, which have no exported knobs of their own.

// TierPoolStats returns how many database-tier pools are open and how many
// connections they reserve from the cap.
func (r *Registry) TierPoolStats() (pools, reserved int) { return r.tier.pools.stats() }

// SweepTierPools closes the pools idle at now, as the sweeper does on its
// tick, and returns how many it closed.
func (r *Registry) SweepTierPools(now time.Time) int { return r.tier.pools.sweep(now) }

// TenantPassword opens database-tier tenant t's login password, as its
// pool does.
func (r *Registry) TenantPassword(t *Tenant) (string, error) { return r.tier.password(t) }

// CloseTierPoolsAfterGet makes the next database-tier acquires find their
// pool closed between taking it and acquiring a connection, as a move's
// switch does to a request in flight; on false, no more.
func (r *Registry) CloseTierPoolsAfterGet(on bool) {
	tp := r.tier.pools
	if !on {
		tp.afterGet.Store(nil)
		return
	}
	hook := func(id int64, p *tierPool) {
		tp.forget(id)
		// Close waits (sync.Once) for the close forget started.
		p.pool.Close()
	}
	tp.afterGet.Store(&hook)
}
