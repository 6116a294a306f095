package condocli_test

import (
	"strings"
	"testing"

	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condotest"
)

// TestTenantsMoveTier: tenants move --tier database and back with
// progress lines, --rollback after the switch (a move back), --resume
// without a move, doctor's line on the old copies, and cleanup-moves.
func TestTenantsMoveTier(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{CreateDB: true})
	c := cli{t: t, url: db.URL, env: map[string]string{condocert.KeyEnv: condocert.NewKey(), "CONDO_SERVERS": "main=" + db.URL}}
	c.ok("migrate")
	c.ok("tenants", "create", "acme", "--name", "Acme")
	out := c.ok("tenants", "move", "acme", "--tier", "database")
	for _, want := range []string{"acme: prepared", "acme: copied 0 rows", "acme: switched in", "write pause", "moved acme to database " + db.Role + "_tenant_1 on main"} {
		if !strings.Contains(out, want) {
			t.Errorf("tenants move --tier database: no %q in\n%s", want, out)
		}
	}
	if out := c.ok("tenants", "list"); listedTier(out, "acme") != "database main" {
		t.Errorf("tenants list after the move:\n%s", out)
	}
	lines, out, _ := doctorLines(t, c)
	wantLines(t, out, lines, map[string][2]string{
		"tier moves": {"ok", "none in progress; old copies fenced until the grace period ends: acme (schema, switched"},
	})
	c.fails("want exactly one of", "tenants", "move", "acme")
	c.fails("--tier: want database or schema", "tenants", "move", "acme", "--tier", "shared")
	c.fails("want exactly one of", "tenants", "move", "acme", "--resume", "--tier", "schema")
	c.ok("tenants", "create", "globex", "--name", "Globex")
	c.fails("no move", "tenants", "move", "globex", "--resume")
	if out := c.ok("tenants", "move", "acme", "--rollback"); !strings.Contains(out, "rolled back the move of acme") {
		t.Errorf("--rollback after the switch:\n%s", out)
	}
	if out := c.ok("tenants", "list"); listedTier(out, "acme") != "schema -" {
		t.Errorf("tenants list after the rollback:\n%s", out)
	}
	if out := c.ok("tenants", "cleanup-moves"); !strings.Contains(out, "0 moves cleaned up") {
		t.Errorf("cleanup-moves within the grace period:\n%s", out)
	}
	if out := c.ok("tenants", "cleanup-moves", "--grace", "0s"); !strings.Contains(out, "dropped the old copy of acme (database") || !strings.Contains(out, "1 move cleaned up") {
		t.Errorf("cleanup-moves --grace 0s:\n%s", out)
	}
}

// listedTier is the TIER and SERVER columns of slug's line in tenants
// list (the two columns before DOMAINS, which is empty here).
func listedTier(out, slug string) string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == slug {
			return f[len(f)-2] + " " + f[len(f)-1]
		}
	}
	return ""
}
