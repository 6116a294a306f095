package condo

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
)

// RebalanceOpts are [Registry.Rebalance]'s options. A nil *RebalanceOpts is
// valid.
type RebalanceOpts struct {
	// DryRun plans the moves without making them.
	DryRun bool
}

// RebalanceMove is one tenant moved (or, in a dry run, to be moved) by
// [Registry.Rebalance].
type RebalanceMove struct {
	Slug     string
	Bytes    int64 // the tenant's size when planned
	From, To Node
}

// RebalanceResult is what [Registry.Rebalance] planned and did.
type RebalanceResult struct {
	// Moves are the planned moves, in order; without DryRun, all of them
	// were made unless Rebalance returned an error, when Done were.
	Moves []RebalanceMove
	Done  int
	// Before and After are the bytes of tenants on each worker before the
	// plan and once it is carried out.
	Before, After map[Node]int64
}

// Rebalance spreads the tenants over the Citus workers by size, greedily:
// while some tenant on the fullest worker weighs at most half the gap to
// the emptiest, the largest such tenant moves there (so the gap shrinks at
// every move and ends below twice the smallest tenant that could move).
// Each move is [Registry.Move]: online, one tenant at a time, the next
// planned only from sizes read at the start.
//
// Condo plans rather than calling Citus's citus_rebalance_start. That
// rebalancer does move schema shard groups (Citus 12+ treats the
// single-shard tables of distributed schemas as one colocation group to
// spread), but its default strategy, by_shard_count, weighs a tenant by its
// number of tables, not its size; by_disk_size adds a fixed cost per shard
// (citus.rebalancer_by_disk_size_base_cost, 100 MB) that drowns tenants
// smaller than that; it balances every distributed table, not just
// tenants; and it runs as background jobs reporting per shard, where Condo
// logs and reports per tenant (Citus 13.2's shard_rebalancer.c).
//
// Tenants of every status count (a deleted tenant's data is still on its
// node); tenants whose schema is not distributed (made before Citus) do not
// move. Returns [ErrNotCitus] when the database is not a Citus coordinator.
func (r *Registry) Rebalance(ctx context.Context, opts *RebalanceOpts) (*RebalanceResult, error) {
	if opts == nil {
		opts = &RebalanceOpts{}
	}
	info, err := r.Cluster(ctx)
	if err != nil {
		return nil, err
	}
	load := map[Node]int64{}
	var workers []Node
	for _, n := range info.Nodes {
		if n.Role == "worker" && n.Active {
			load[n.Node] = 0
			workers = append(workers, n.Node)
		}
	}
	type tenant struct {
		slug  string
		bytes int64
		node  Node
	}
	var ts []tenant
	for after := ""; ; {
		page, err := r.List(ctx, ListParams{AllStatuses: true, After: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		nodes, err := r.Nodes(ctx, page.Tenants)
		if err != nil {
			return nil, err
		}
		sizes, err := r.Sizes(ctx, page.Tenants)
		if err != nil {
			return nil, err
		}
		for _, t := range page.Tenants {
			n, ok := nodes[t.Schema]
			if _, worker := load[n]; !ok || !worker {
				continue // not distributed, or on the coordinator or an inactive node
			}
			ts = append(ts, tenant{t.Slug, sizes[t.Schema].Bytes, n})
			load[n] += sizes[t.Schema].Bytes
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	res := &RebalanceResult{Before: maps.Clone(load)}
	// Largest first, then by slug, so a plan is the same from the same sizes.
	slices.SortFunc(ts, func(a, b tenant) int { return cmp.Or(cmp.Compare(b.bytes, a.bytes), cmp.Compare(a.slug, b.slug)) })
	for len(workers) > 1 {
		full, empty := workers[0], workers[0]
		for _, w := range workers {
			if load[w] > load[full] || load[w] == load[full] && w.String() < full.String() {
				full = w
			}
			if load[w] < load[empty] || load[w] == load[empty] && w.String() < empty.String() {
				empty = w
			}
		}
		gap, i := load[full]-load[empty], -1
		for j, t := range ts {
			if t.node == full && 2*t.bytes <= gap && t.bytes > 0 {
				i = j
				break
			}
		}
		if i < 0 {
			break
		}
		ts[i].node = empty
		load[full] -= ts[i].bytes
		load[empty] += ts[i].bytes
		res.Moves = append(res.Moves, RebalanceMove{Slug: ts[i].slug, Bytes: ts[i].bytes, From: full, To: empty})
	}
	res.After = maps.Clone(load)
	if opts.DryRun {
		return res, nil
	}
	for _, m := range res.Moves {
		if err := r.Move(ctx, m.Slug, m.To); err != nil {
			return res, fmt.Errorf("rebalance: %w", err)
		}
		res.Done++
	}
	return res, nil
}
