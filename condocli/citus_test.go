package condocli_test

import (
	"strings"
	"testing"

	"github.com/condo-dev/condo/condotest"
)

// TestCitusCLI: on a Citus cluster, migrate, create a tenant, see where it
// lives, move it to the other worker, and doctor's Citus line.
func TestCitusCLI(t *testing.T) {
	t.Parallel()
	db := condotest.NewCitusDatabase(t, &condotest.DatabaseOpts{SkipMigrations: true})
	c := cli{t: t, url: db.URL}
	c.ok("migrate")
	c.ok("tenants", "create", "acme", "--name", "Acme")
	c.ok("tenants", "exec", "acme", "--sql", "INSERT INTO hotel (name, city, stars) VALUES ('Acme Plaza', 'Paris', 4)")
	nodeOf := func() string {
		out := c.ok("tenants", "nodes")
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "acme" {
				return f[2]
			}
		}
		t.Fatalf("tenants nodes: no line for acme:\n%s", out)
		return ""
	}
	from, to := nodeOf(), ""
	for _, w := range condotest.Citus(t).Workers() {
		if w.String() != from {
			to = w.String()
		}
	}
	if got := c.ok("tenants", "move", "acme", "--node", to); !strings.Contains(got, "moved acme to "+to) {
		t.Fatalf("tenants move: %s", got)
	}
	if got := nodeOf(); got != to {
		t.Fatalf("after the move acme is on %s, want %s (from %s)", got, to, from)
	}
	c.fails("--node: want HOST:PORT", "tenants", "move", "acme", "--node", "nowhere")
	// tenants list has a NODE column on Citus.
	list := c.ok("tenants", "list")
	if lines := strings.Split(list, "\n"); !strings.HasSuffix(strings.TrimSpace(lines[0]), "NODE") || !strings.Contains(list, to) {
		t.Fatalf("tenants list on Citus: want a NODE column with %s:\n%s", to, list)
	}
	// One tenant: nothing to rebalance.
	if got := c.ok("tenants", "rebalance", "--dry-run"); !strings.Contains(got, "balanced: nothing to move") {
		t.Fatalf("tenants rebalance --dry-run:\n%s", got)
	}
	out, _, _ := c.run("doctor")
	if !strings.Contains(out, "ok    citus: Citus 13.") || !strings.Contains(out, "3 nodes") ||
		!strings.Contains(out, "20 more for the tenant pools serve opens on Citus") {
		t.Fatalf("doctor on Citus:\n%s", out)
	}
}
