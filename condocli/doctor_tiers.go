package condocli

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condostack"
)

// checkOrphanDatabases reports tenant databases no tenant points at: a
// database-tier creation or purge that died between its steps left them
// (condo.Registry.OrphanDatabases). A warning, not a failure: nothing is
// served from them, and whether to drop one (its data may be all that is
// left of a purge gone wrong) is the operator's call.
func checkOrphanDatabases(ctx context.Context, st *condostack.Stack) checkResult {
	const name = "tenant databases"
	orphans, err := st.Registry.OrphanDatabases(ctx)
	if err != nil {
		return warnf(name, "cannot list them on every server: %v", err)
	}
	if len(orphans) == 0 {
		return okf(name, "no orphan (every database named like a tenant's belongs to one)")
	}
	names := make([]string, len(orphans))
	for i, o := range orphans {
		names[i] = cmp.Or(o.Server, condo.MainServer) + ":" + o.Database
	}
	return warnf(name, "%s with no tenant (a database-tier creation or purge died midway): %s; check and drop them (DROP DATABASE, then DROP ROLE of the same name)",
		plural(len(orphans), "database"), strings.Join(names, ", "))
}

// checkServers gives a line per server of the database tier: reachable,
// and its role may create databases and roles. Only when a server besides
// the registry's is configured or a tenant uses the tier: the schema tier
// needs none of it.
func checkServers(ctx context.Context, st *condostack.Stack) []checkResult {
	servers, err := st.Registry.CheckServers(ctx)
	if err != nil {
		return []checkResult{warnf("servers", "cannot read the registry: %v", err)}
	}
	used := len(servers) > 1
	for _, s := range servers {
		used = used || s.Tenants > 0
	}
	if !used {
		return nil
	}
	var out []checkResult
	for _, s := range servers {
		name := "server " + s.Name
		switch {
		case s.Err != nil:
			out = append(out, failf(name, "unreachable (%s): %v", plural(s.Tenants, "database-tier tenant"), s.Err))
		case !s.CreateDB || !s.CreateRole:
			out = append(out, failf(name, "its role lacks CREATEDB or CREATEROLE, which the database tier needs (%s); as an administrator run ALTER ROLE … CREATEDB CREATEROLE", plural(s.Tenants, "database-tier tenant")))
		default:
			out = append(out, okf(name, "%s; its role may create databases and roles", plural(s.Tenants, "database-tier tenant")))
		}
	}
	return out
}

// checkMoves lists the moves between tiers: those in progress (a warning:
// one that is not running any more needs tenants move --resume or
// --rollback, and the tenant's migrations wait for it) and the fenced old
// copies waiting for the grace period. Only when there is one (ok false
// otherwise): a registry that never moved a tenant gets no line.
func checkMoves(ctx context.Context, st *condostack.Stack) (checkResult, bool) {
	const name = "tier moves"
	ms, err := st.Registry.TierMoves(ctx)
	if err != nil {
		return warnf(name, "cannot read them: %v", err), true
	}
	if len(ms) == 0 {
		return checkResult{}, false
	}
	var running, waiting []string
	for _, m := range ms {
		if m.Phase == condo.MoveSwitched {
			waiting = append(waiting, fmt.Sprintf("%s (%s, switched %s ago)", m.Slug, m.From, time.Since(*m.SwitchedAt).Round(time.Minute)))
			continue
		}
		running = append(running, fmt.Sprintf("%s to %s (phase %s since %s ago)", m.Slug, m.To, m.Phase, time.Since(m.UpdatedAt).Round(time.Second)))
	}
	if len(running) > 0 {
		return warnf(name, "%s in progress: %s; if none is running, `tenants move SLUG --resume` or `--rollback` (its migrations wait); old copies waiting: %d",
			plural(len(running), "move"), strings.Join(running, ", "), len(waiting)), true
	}
	return okf(name, "none in progress; old copies fenced until the grace period ends: %s (serve or `tenants cleanup-moves` drops them)",
		strings.Join(waiting, ", ")), true
}
