package condocli_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condocli"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condostack"
	"github.com/condo-dev/condo/condotest"
)

func TestHardenAndRuntimeGrant(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{Unhardened: true, Runtime: true})
	c := cli{t: t, url: db.URL}
	// The owner is no superuser: harden prints what to run.
	out := c.ok("harden")
	for _, want := range []string{
		"is not a superuser",
		"REVOKE EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) FROM PUBLIC;",
		`GRANT EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) TO "` + db.Role + `" WITH GRANT OPTION;`,
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("harden as the owner: want %q in:\n%s", want, out)
		}
	}
	st, err := condo.CheckHardening(t.Context(), db.Pool)
	if err != nil || st.SetConfigRevoked {
		t.Fatalf("after printing: %+v, %v; want nothing changed", st, err)
	}
	lines, out, _ := doctorLines(t, c)
	wantLines(t, out, lines, map[string][2]string{"blast radius": {"warn", "tenant roles may call set_config"}})
	// A superuser in the same database runs it; the owner is the default
	// role, as the database's owner.
	u, err := url.Parse(condotest.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db.Name
	su := cli{t: t, url: u.String()}
	// migrate as a superuser hardens a database that is not hardened yet.
	want := "hardened: set_config revoked from tenant roles, kept by " + u.User.Username() + ", " + db.Role
	if out := su.ok("migrate"); !strings.Contains(out, want) {
		t.Fatalf("migrate as a superuser: want %q in:\n%s", want, out)
	}
	if out := su.ok("migrate"); strings.Contains(out, "hardened") {
		t.Fatalf("migrate again hardened again:\n%s", out)
	}
	if out := su.ok("harden"); !strings.Contains(out, "set_config revoked from tenant roles: yes") || !strings.Contains(out, db.RuntimeRole) {
		t.Fatalf("harden as a superuser:\n%s", out)
	}
	if st, err := condo.CheckHardening(t.Context(), db.Pool); err != nil || !st.SetConfigRevoked || !st.SetConfigGranted {
		t.Fatalf("after harden: %+v, %v", st, err)
	}
	if out := c.ok("runtime-grant", db.RuntimeRole); !strings.Contains(out, "set_config: true") {
		t.Fatalf("runtime-grant: %s", out)
	}
	lines, out, _ = doctorLines(t, c)
	wantLines(t, out, lines, map[string][2]string{"blast radius": {"ok", "tenant transactions may run as runtime role " + db.RuntimeRole}})
	c.fails("runtime role is the owner", "runtime-grant", db.Role)
	c.fails("does not exist", "runtime-grant", "nobody_here")
	c.fails("superuser", "runtime-grant", u.User.Username())
	// Sharded (issue 15): provisioning roles create the tenant roles and
	// the runtime role serves one shard of them.
	if out := c.ok("runtime-grant", db.RuntimeRole, "--provisioners", "2", "--shards", "2", "--shard", "1"); !strings.Contains(out, "provisioning roles: 2 made, 2 in all") {
		t.Fatalf("runtime-grant --provisioners: %s", out)
	}
	c.fails("want 0 <= shard < shards", "runtime-grant", db.RuntimeRole, "--shards", "2", "--shard", "2")
	c.ok("tenants", "create", "sharded-a", "--name", "A")
	c.ok("tenants", "create", "sharded-b", "--name", "B")
	lines, out, _ = doctorLines(t, c)
	wantLines(t, out, lines, map[string][2]string{"tenant roles": {"ok", "per role that may take them"}})
}

// TestServeRuntimeRole serves with split roles: tenant queries run as the
// runtime role, including for a tenant that the CLI (another registry)
// creates while the server runs, and the app's shared-table queries
// (Stack.SharedPool) as the shared role, granted Config.RuntimeGrants at
// start.
func TestServeRuntimeRole(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{Runtime: true})
	c := cli{t: t, url: db.URL}
	c.ok("migrate")
	c.ok("tenants", "create", "acme", "--name", "Acme")
	if _, err := db.Pool.Exec(t.Context(), "CREATE TABLE public.notes (id int); INSERT INTO public.notes VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var out bytes.Buffer
	cl := newCLI(&condocli.Config{
		Stack: &condostack.Config{
			TenantMigrations: tenantFS,
			RuntimeGrants:    []condo.TableGrant{{Table: "notes", Privileges: []string{"SELECT"}}},
		},
		Getenv: func(k string) string {
			return map[string]string{"DATABASE_URL": db.URL, "CONDO_RUNTIME_DATABASE_URL": db.RuntimeURL}[k]
		},
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out,
		Logger: condotest.Logger(t),
	}, &testApp{handlers: func(env *condostack.Stack) condohttp.Handlers {
		return condohttp.Handlers{Public: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var who string
			var n int
			if err := env.SharedPool.QueryRow(r.Context(), "SELECT current_user::text, count(*)::int FROM public.notes").Scan(&who, &n); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			fmt.Fprintf(w, "%s %d", who, n)
		}), Tenant: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var who string
			err := env.Registry.QueryTenant(r.Context(), func(rows pgx.Rows) error {
				var err error
				who, err = pgx.CollectExactlyOneRow(rows, pgx.RowTo[string])
				return err
			}, "SELECT session_user::text || ' ' || current_user::text")
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			fmt.Fprint(w, who)
		})}
	}})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		errc <- cl.Execute(ctx, []string{"serve", "--http", addr, "--base-domain", "example.test", "--db-conns", "4"})
	}()
	t.Cleanup(func() {
		cancel()
		<-errc
	})
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	get := func(host string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	condotest.WaitFor(t, 30*time.Second, "acme served", func() bool { s, _ := get("acme.example.test"); return s == 200 })
	if s, body := get("example.test"); s != 200 || body != db.RuntimeRole+"_shared 1" {
		t.Fatalf("the app's shared-table query: %d %q, want the shared role reading notes", s, body)
	}
	if _, body := get("acme.example.test"); body != db.RuntimeRole+" "+db.Role+"_tenant_1" {
		t.Fatalf("acme query ran as %q, want the runtime role in the tenant role", body)
	}
	c.ok("tenants", "create", "globex", "--name", "Globex")
	condotest.WaitFor(t, 10*time.Second, "globex served", func() bool { s, _ := get("globex.example.test"); return s != 404 })
	if s, body := get("globex.example.test"); s != 200 || body != db.RuntimeRole+" "+db.Role+"_tenant_2" {
		t.Fatalf("globex (created by the CLI while serving): %d %q", s, body)
	}
}
