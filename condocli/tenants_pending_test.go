package condocli_test

import (
	"strings"
	"testing"

	"github.com/condo-dev/condo/condotest"
)

// TestTenantsPending: `tenants pending --size` fills and shrinks the pool,
// `tenants list` hides pending tenants unless --pending, a created tenant
// is a claimed one, doctor counts the pool, and serve takes
// --pending-tenants (its environment variable checked).
func TestTenantsPending(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	c := cli{t: t, url: db.URL}
	c.ok("migrate")
	if out := c.ok("tenants", "pending", "--size", "2"); !strings.Contains(out, "2 made, 0 purged") || !strings.Contains(out, "pending tenants: 2, 2 ready (at tenant migration version 2)") {
		t.Fatalf("tenants pending --size 2:\n%s", out)
	}
	if out := c.ok("tenants", "list"); strings.Contains(out, "~pending-") {
		t.Fatalf("tenants list shows pending tenants:\n%s", out)
	}
	if out := c.ok("tenants", "list", "--pending"); strings.Count(out, "~pending-") != 2 {
		t.Fatalf("tenants list --pending:\n%s", out)
	}
	c.ok("tenants", "create", "acme", "--name", "Acme")
	if out := c.ok("tenants", "list", "--pending"); strings.Count(out, "~pending-") != 1 || strings.Contains(out, "~pending-1 ") {
		t.Fatalf("after a create, tenants list --pending:\n%s", out)
	}
	if out := c.ok("tenants", "show", "acme"); !strings.Contains(out, "tenant_1") {
		t.Fatalf("acme is not the claimed tenant 1:\n%s", out)
	}
	c.fails("tenant not found", "tenants", "show", "~pending-2")
	_, out, _ := doctorLines(t, c)
	if !strings.Contains(out, "pending tenants: 1, all ready at version 2") {
		t.Fatalf("doctor:\n%s", out)
	}
	if out := c.ok("tenants", "pending", "--size", "0"); !strings.Contains(out, "0 made, 1 purged") || !strings.Contains(out, "pending tenants: 0, 0 ready") {
		t.Fatalf("tenants pending --size 0:\n%s", out)
	}
	c.fails("--pending excludes --status and --all", "tenants", "list", "--pending", "--all")
	c.env = map[string]string{"CONDO_PENDING_TENANTS": "many"}
	c.fails("CONDO_PENDING_TENANTS: want a number of tenants", "serve")
	// And the tenant role reserve's (condostack's TestServeRoleReserve
	// runs it).
	c.env = map[string]string{"CONDO_ROLE_RESERVE": "many"}
	c.fails("CONDO_ROLE_RESERVE: want a number of roles", "serve")
	c.env = nil
	c.fails("--role-reserve: want 0 (off) or more, got -1", "serve", "--role-reserve", "-1")
}

// TestTenantsReserve: `tenants reserve --size` fills and shrinks the
// tenant role reserve, a created tenant takes the first reserved role, and
// doctor prints the reserve's size.
func TestTenantsReserve(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	c := cli{t: t, url: db.URL}
	c.ok("migrate")
	if out := c.ok("tenants", "reserve", "--size", "3"); !strings.Contains(out, "3 made, 0 dropped") || !strings.Contains(out, "reserved tenant roles: 3\n") {
		t.Fatalf("tenants reserve --size 3:\n%s", out)
	}
	c.ok("tenants", "create", "acme", "--name", "Acme")
	if out := c.ok("tenants", "show", "acme"); !strings.Contains(out, "tenant_1") {
		t.Fatalf("acme is not reserved tenant 1:\n%s", out)
	}
	_, out, _ := doctorLines(t, c)
	if !strings.Contains(out, "; 2 reserved") {
		t.Fatalf("doctor:\n%s", out)
	}
	if out := c.ok("tenants", "reserve", "--size", "0"); !strings.Contains(out, "0 made, 2 dropped") || !strings.Contains(out, "reserved tenant roles: 0\n") {
		t.Fatalf("tenants reserve --size 0:\n%s", out)
	}
}
