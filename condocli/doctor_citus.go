package condocli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condostack"
)

// checkCitus reports the Citus cluster behind the database, and ok false on
// plain PostgreSQL (no line then).
func checkCitus(ctx context.Context, st *condostack.Stack) (checkResult, bool) {
	info, err := st.Registry.Cluster(ctx)
	if errors.Is(err, condo.ErrNotCitus) {
		return checkResult{}, false
	}
	if err != nil {
		return failf("citus", "cannot read the cluster: %v", err), true
	}
	var nodes, problems []string
	for _, n := range info.Nodes {
		nodes = append(nodes, fmt.Sprintf("%s %s (%s)", n.Role, n.Node, plural(n.Tenants, "tenant")))
		if !n.Active {
			problems = append(problems, fmt.Sprintf("node %s is not active", n.Node))
		} else if n.WALLevel != "logical" {
			problems = append(problems, fmt.Sprintf("node %s has wal_level %q, so tenants cannot be moved online (set wal_level = logical and restart it)", n.Node, n.WALLevel))
		}
	}
	summary := fmt.Sprintf("Citus %s, %s: %s", info.Version, plural(len(info.Nodes), "node"), strings.Join(nodes, ", "))
	if len(problems) > 0 {
		return failf("citus", "%s; %s", summary, strings.Join(problems, "; ")), true
	}
	if !info.OwnerSetUp {
		return warnf("citus", "%s; the login role's one-time Citus set-up is not done: run migrate (README, \"Scaling out\")", summary), true
	}
	return okf("citus", "%s; tenant transactions need tenant-affine pools of one connection on Citus (README, \"Isolation on Citus\")", summary), true
}
