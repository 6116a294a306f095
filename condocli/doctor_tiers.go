package condocli

import (
	"cmp"
	"context"
	"strings"

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
