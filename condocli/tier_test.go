package condocli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condotest"
)

// TestTenantsCreateDatabaseTier: tenants create --tier database, with the
// secret key from $CONDO_CERT_KEY and the servers from $CONDO_SERVERS,
// and tenants list's TIER and SERVER columns.
func TestTenantsCreateDatabaseTier(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{CreateDB: true})
	c := cli{t: t, url: db.URL, env: map[string]string{condocert.KeyEnv: condocert.NewKey(), "CONDO_SERVERS": "main=" + db.URL}}
	c.ok("migrate")
	out := c.ok("tenants", "create", "acme", "--name", "Acme", "--tier", "database", "--json")
	var got struct{ Tier, Server, Database string }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Tier != "database" || got.Database != db.Role+"_tenant_1" {
		t.Errorf("created %+v", got)
	}
	c.ok("tenants", "create", "globex", "--name", "Globex")
	out = c.ok("tenants", "list")
	for _, want := range []string{"TIER", "SERVER", "database  main", "schema    -"} {
		if !strings.Contains(out, want) {
			t.Errorf("tenants list: no %q in\n%s", want, out)
		}
	}
	c.ok("migrate", "--tenants")
	// Other checks may warn about this test database; these lines count.
	lines, out, _ := doctorLines(t, c)
	wantLines(t, out, lines, map[string][2]string{
		"server main":      {"ok", "1 database-tier tenant; its role may create databases and roles"},
		"tenant databases": {"ok", "no orphan"},
	})
	c.ok("tenants", "delete", "acme", "--purge", "--yes")

	bad := cli{t: t, url: db.URL, env: map[string]string{"CONDO_SERVERS": "eu=postgres://o:s3cret@eu:notaport/db"}}
	_, errs, err := bad.run("tenants", "list")
	if err == nil || !strings.Contains(err.Error()+errs, `server "eu"`) || strings.Contains(err.Error()+errs, "s3cret") {
		t.Errorf("bad $CONDO_SERVERS: %v %s", err, errs)
	}
}
