package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/condo-dev/condo/condotest"
)

// TestAppBehindPgBouncer drives the reference app's writes through a
// transaction pooler, as browsers would: serve (a process, the test binary
// running main) with DATABASE_URL through a real PgBouncer in pool_mode =
// transaction and CONDO_DIRECT_DATABASE_URL straight to PostgreSQL, once
// with one role for everything and once with split roles
// (CONDO_RUNTIME_DATABASE_URL through PgBouncer too). Migrations and the
// platform admin's account are made with the CLI through PgBouncer as
// well. Then, over HTTP with CSRF tokens and cookies: a public signup of a
// new workspace (tenant, owner, membership, the sign-in hand-off) and its
// new host; a failed and a real sign-in there; a hotel created and edited
// through the forms and seen by another session; sign-out; an invitation
// accepted; several sessions signing in and adding hotels at once; and the
// admin: sign-in, tenant list, suspend (the tenant's host answers 403) and
// resume (200 again). serve must log no ERROR on the way.
//
// The sessions at once make serve use several client connections over
// PgBouncer's two server connections. With CONDO_POOLER=none forced on the
// PgBouncer URL (pgx's named prepared statements, cached per client
// connection) the test fails: a statement prepared on one server
// connection is missing from another, or collides with the same statement
// prepared there by another client connection.
func TestAppBehindPgBouncer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		runtime bool
	}{
		{"one role", false},
		{"split roles", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{Runtime: tc.runtime})
			var users, env []string
			if tc.runtime {
				users = []string{db.RuntimeRole}
			}
			// Fewer server connections than serve opens under load.
			bouncer := condotest.NewPgBouncer(t, db, &condotest.PgBouncerOpts{PoolSize: 2, Users: users})
			if tc.runtime {
				env = append(env, "CONDO_RUNTIME_DATABASE_URL="+bouncer.URLFor(db.RuntimeRole))
			}

			// The CLI through PgBouncer: migrate (its lock on the direct
			// URL) and a platform admin.
			cli := &testApp{t: t, dbURL: bouncer.URL}
			if out, err := cli.run("migrate", "--direct-database-url", db.URL); err != nil || !strings.Contains(out, "jobs: River's tables installed") {
				t.Fatalf("migrate: %v\n%s", err, out)
			}
			out, err := cli.run("admin", "create-user", "ops@example.com", "--generate")
			m := regexp.MustCompile(`(?m)^password: (\S+)$`).FindStringSubmatch(out)
			if err != nil || m == nil {
				t.Fatalf("admin create-user: %v\n%s", err, out)
			}
			adminPassword := m[1]

			addr, serveOut := startServe(t, bouncer.URL, db.URL, env...)
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				t.Fatal(err)
			}
			// browser is a new cookie jar, failing t.
			browser := func(t testing.TB) *client { return (&testApp{t: t, port: port}).clientTo(addr) }
			ta := &testApp{t: t, port: port}
			u := func(p string) string { return ta.url("sunny", p) }

			// Signup: the new owner lands signed in on the new host.
			owner := browser(t)
			p := owner.submit(ta.url("", "/signup"), ta.url("", "/signup"), signupForm("Sunny Stays", "sunny", "owner@example.com", testPassword))
			want(t, p, http.StatusOK, "Welcome to Sunny Stays", "owner@example.com", "No hotels yet")
			if p.URL.Host != "sunny.localhost:"+port {
				t.Fatalf("signup landed on %s, want sunny.localhost:%s", p.URL, port)
			}

			// Sign-in on the tenant: a wrong password (counted by the
			// throttle), then the right one.
			ann := browser(t)
			want(t, ann.get(u("/")), http.StatusOK, "Sign in to Sunny Stays")
			want(t, ann.login("sunny", "owner@example.com", "not the password"), http.StatusUnauthorized, "Wrong e-mail or password.")
			want(t, ann.login("sunny", "owner@example.com", testPassword), http.StatusOK, "No hotels yet")

			// A hotel, created and edited through the forms, and a room.
			p = ann.submit(u("/hotels/new"), u("/hotels/new"), url.Values{"name": {"Seaside"}, "city": {"Nice"}, "stars": {"4"}})
			want(t, p, http.StatusOK, `Added hotel "Seaside"`, "Nice")
			hotel := p.URL.Path
			if !regexp.MustCompile(`^/hotels/[1-9][0-9]*$`).MatchString(hotel) {
				t.Fatalf("after adding a hotel: on %s, want /hotels/ID", p.URL)
			}
			p = ann.submit(u(hotel+"/edit"), u(hotel+"/edit"), url.Values{"name": {"Seaside Palace"}, "city": {"Nice"}, "stars": {"5"}})
			want(t, p, http.StatusOK, "Saved.", "Seaside Palace")
			p = ann.submit(u(hotel+"/rooms/new"), u(hotel+"/rooms/new"), url.Values{"number": {"101"}, "beds": {"2"}, "price": {"99.50"}})
			want(t, p, http.StatusOK, "Added room 101", "99.50")
			// The signup's session sees them.
			want(t, owner.get(u("/")), http.StatusOK, "Seaside Palace", "1 hotel")
			want(t, owner.get(u("/?q=palace")), http.StatusOK, "Seaside Palace")
			want(t, owner.get(u(hotel)), http.StatusOK, "Seaside Palace", "101")

			// Sign-out ends the session.
			want(t, ann.submit(u("/"), u("/logout"), nil), http.StatusOK, "You are signed out.")
			if p := ann.get(u("/")); p.URL.Path != "/login" {
				t.Fatalf("signed out: on %s, want /login", p.URL)
			}

			// An invitation, accepted: a new member, signed in.
			p = owner.submit(u("/members"), u("/members/invite"), url.Values{"email": {"bea@example.com"}, "role": {"member"}})
			want(t, p, http.StatusCreated, "Invitation for bea@example.com")
			link := regexp.MustCompile(`"(` + regexp.QuoteMeta(u("/invite/")) + `[^"]+)"`).FindStringSubmatch(p.Body)
			if link == nil {
				t.Fatal("no invitation link on the page")
			}
			bea := browser(t)
			want(t, bea.submit(link[1], link[1], url.Values{"password": {testPassword}, "confirm": {testPassword}}), http.StatusOK, "You joined Sunny Stays", "Seaside Palace")
			want(t, owner.get(u("/members")), http.StatusOK, "bea@example.com")

			// Sessions at once: each signs in, adds a hotel, edits it
			// and reads the list. The sign-ins take turns: the throttle
			// counts each attempt before it checks the password, so
			// concurrent ones of one account from one address count as
			// guesses.
			const sessions = 8
			var wg sync.WaitGroup
			var signIn sync.Mutex
			for i := range sessions {
				wg.Go(func() {
					// Run may be called from several goroutines; these
					// subtests are not parallel ones, so -parallel does
					// not bound them.
					t.Run(fmt.Sprintf("session %d", i), func(t *testing.T) {
						c := browser(t)
						signIn.Lock()
						p := c.login("sunny", "owner@example.com", testPassword)
						signIn.Unlock()
						want(t, p, http.StatusOK)
						name := fmt.Sprintf("Annex %d", i)
						p = c.submit(u("/hotels/new"), u("/hotels/new"), url.Values{"name": {name}, "city": {"Lyon"}, "stars": {"3"}})
						want(t, p, http.StatusOK, fmt.Sprintf("Added hotel %q", name))
						ep := p.URL.Path + "/edit"
						want(t, c.submit(u(ep), u(ep), url.Values{"name": {name + " Bis"}, "city": {"Lyon"}, "stars": {"2"}}), http.StatusOK, "Saved.")
						want(t, c.get(u("/?q=annex")), http.StatusOK, name+" Bis")
					})
				})
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			want(t, owner.get(u("/")), http.StatusOK, fmt.Sprintf("%d hotels", 1+sessions))

			// The platform admin.
			adm := browser(t)
			a := func(p string) string { return ta.url("admin", p) }
			want(t, adm.login("admin", "ops@example.com", adminPassword), http.StatusOK, "Overview")
			want(t, adm.get(a("/tenants")), http.StatusOK, "sunny")
			want(t, adm.get(a("/tenants/sunny")), http.StatusOK, "owner@example.com")
			want(t, adm.submit(a("/tenants/sunny"), a("/tenants/sunny/suspend"), nil), http.StatusOK, "Suspended sunny")
			// The change reaches serve's resolver by LISTEN on the
			// direct URL: waited for, not timed.
			condotest.WaitFor(t, 10*time.Second, "sunny suspended on its host", func() bool {
				return owner.get(u("/")).Status == http.StatusForbidden
			})
			want(t, owner.get(u("/")), http.StatusForbidden, "suspended")
			want(t, adm.get(a("/tenants?status=suspended")), http.StatusOK, "sunny")
			want(t, adm.submit(a("/tenants/sunny"), a("/tenants/sunny/resume"), nil), http.StatusOK, "Resumed sunny")
			condotest.WaitFor(t, 10*time.Second, "sunny back on its host", func() bool {
				return owner.get(u("/")).Status == http.StatusOK
			})
			want(t, owner.get(u("/")), http.StatusOK, "Seaside Palace")

			if tc.runtime {
				// serve was given the runtime role through PgBouncer
				// only, and the test's own runtime pool stayed unused:
				// every backend of that role is PgBouncer's.
				if n := db.RuntimePool.Stat().TotalConns(); n != 0 {
					t.Fatalf("the test's runtime pool has %d connections, want none", n)
				}
				var n int
				err := db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND usename = $2",
					db.Name, db.RuntimeRole).Scan(&n)
				if err != nil || n == 0 {
					t.Fatalf("backends of the runtime role: %d, %v; want some, PgBouncer's", n, err)
				}
			}
			if s := serveOut.String(); strings.Contains(s, "level=ERROR") {
				t.Fatalf("serve logged errors:\n%s", s)
			}
		})
	}
}
