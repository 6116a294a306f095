package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condotest"
	"github.com/condo-dev/condo/examples/hotels/accounts"
)

func signupForm(name, slug, email, password string) url.Values {
	return url.Values{"name": {name}, "slug": {slug}, "email": {email}, "password": {password}}
}

// A signup creates the tenant, the owner and the membership, and lands the
// owner signed in on the tenant's own host (through the one-time hand-off,
// since the public site cannot set the tenant host's cookie).
func TestSignup(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, nil)
	c := ta.client()
	p := c.submit(ta.url("", "/signup"), ta.url("", "/signup"), signupForm("Sunny Stays", "Sunny", "owner@example.com", testPassword))
	want(t, p, http.StatusOK, "Welcome to Sunny Stays", "owner@example.com", "No hotels yet")
	if p.URL.Host != "sunny.localhost:"+ta.port || p.URL.Path != "/" {
		t.Fatalf("landed on %s, want sunny.localhost:%s/", p.URL, ta.port)
	}
	ck := c.cookie("sunny", "session")
	if ck == nil {
		t.Fatal("no session cookie on the tenant host")
	}
	if c.cookie("", "session") != nil {
		t.Fatal("the public site got a session cookie")
	}
	tn, err := ta.env.Registry.Get(context.Background(), "sunny")
	if err != nil || !tn.OnTrial || tn.PaidUntil == nil {
		t.Fatalf("tenant: %+v, %v; want a trial with paid_until", tn, err)
	}
	// The hand-off link works once.
	var n int
	if err := ta.env.Pool.QueryRow(context.Background(), "SELECT count(*) FROM public.login_handoffs").Scan(&n); err != nil || n != 0 {
		t.Fatalf("hand-off tokens left: %d, %v", n, err)
	}
	// The same person can add a second workspace with the same account.
	p = c.submit(ta.url("", "/signup"), ta.url("", "/signup"), signupForm("Second", "second", "owner@example.com", testPassword))
	want(t, p, http.StatusOK, "Welcome to Second")
	if got := ta.countUsers(); got != 1 {
		t.Fatalf("users = %d, want 1", got)
	}
}

// Bad signups are refused with a message next to the field, and nothing is
// created: no tenant, no user.
func TestSignupBadInput(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, nil)
	ta.tenant("acme", "acme@example.com")
	c := ta.client()
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		msg    string
	}{
		{"taken slug", signupForm("Acme 2", "acme", "x@example.com", testPassword), 422, "acme is taken"},
		{"taken slug, other case", signupForm("Acme 2", "ACME", "x@example.com", testPassword), 422, "acme is taken"},
		{"reserved slug", signupForm("Admin", "admin", "x@example.com", testPassword), 422, "admin is reserved"},
		{"reserved www", signupForm("W", "www", "x@example.com", testPassword), 422, "www is reserved"},
		{"hyphen first", signupForm("X", "-acme", "x@example.com", testPassword), 422, "must not start or end with a hyphen"},
		{"underscore", signupForm("X", "my_hotels", "x@example.com", testPassword), 422, "is not allowed"},
		{"punycode", signupForm("X", "xn--acme", "x@example.com", testPassword), 422, "third and fourth positions"},
		{"dot", signupForm("X", "a.b", "x@example.com", testPassword), 422, "is not allowed"},
		{"empty slug", signupForm("X", "", "x@example.com", testPassword), 422, "Choose an address"},
		{"long slug", signupForm("X", strings.Repeat("a", 64), "x@example.com", testPassword), 422, "longer than 63"},
		{"short password", signupForm("X", "newco", "x@example.com", "short"), 422, "at least 10 characters"},
		{"common password", signupForm("X", "newco", "x@example.com", "password123"), 422, "too easy to guess"},
		{"repetitive password", signupForm("X", "newco", "x@example.com", "aaaaaaaaaaaa"), 422, "too easy to guess"},
		{"keyboard password", signupForm("X", "newco", "x@example.com", "qwertyuiop12"), 422, "too easy to guess"},
		{"password is the e-mail", signupForm("X", "newco", "janedoe@example.com", "janedoe-2024!"), 422, "must not contain your e-mail"},
		{"bad e-mail", signupForm("X", "newco", "not-an-email", testPassword), 422, "valid e-mail"},
		{"oversized name", signupForm(strings.Repeat("N", 201), "newco", "x@example.com", testPassword), 422, "longer than 200 characters"},
		{"oversized e-mail", signupForm("X", "newco", strings.Repeat("x", 250)+"@example.com", testPassword), 422, "at most 254"},
		{"control characters in name", signupForm("X\x01Y", "newco", "x@example.com", testPassword), 422, "control or invalid characters"},
		{"NUL in name", signupForm("X\x00Y", "newco", "x@example.com", testPassword), 400, "not valid text"},
		{"e-mail taken, other password", signupForm("X", "newco", "acme@example.com", "a different pass"), 422, "cannot be used to create a workspace"},
		{"oversized body", signupForm(strings.Repeat("N", 100_000), "newco", "x@example.com", testPassword), 413, "too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := c.submit(ta.url("", "/signup"), ta.url("", "/signup"), tc.form)
			want(t, p, tc.status, tc.msg)
		})
	}
	t.Run("forged CSRF token", func(t *testing.T) {
		c.get(ta.url("", "/signup"))
		f := signupForm("X", "newco", "x@example.com", testPassword)
		f.Set("csrf", "forged")
		want(t, c.post(ta.url("", "/signup"), f), http.StatusForbidden, "nothing was changed")
	})
	t.Run("no CSRF token, no cookie", func(t *testing.T) {
		want(t, ta.client().post(ta.url("", "/signup"), signupForm("X", "newco", "x@example.com", testPassword)), http.StatusForbidden)
	})
	if n := ta.countTenants(); n != 1 {
		t.Fatalf("tenants = %d, want 1 (acme only)", n)
	}
	if n := ta.countUsers(); n != 1 {
		t.Fatalf("users = %d, want 1", n)
	}
}

// Signup with an address that has an account is a sign-in attempt: it
// goes through the login throttle (signup was a full-speed password
// oracle), builds no tenant per guess (the registry's id sequence does not
// move), and its answer does not say that the address has an account.
func TestSignupIsNoPasswordOracle(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, &appOpts{pairLimit: &accounts.Limit{Max: 3, Window: time.Hour, Block: time.Hour}})
	ta.tenant("acme", "ann@acme.example")
	seq := func() (v int64) {
		if err := ta.env.Pool.QueryRow(context.Background(), "SELECT last_value FROM public.condo_tenants_id_seq").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := seq()
	c := ta.client()
	for i := range 3 {
		p := c.submit(ta.url("", "/signup"), ta.url("", "/signup"), signupForm("X", fmt.Sprintf("guess%d", i), "ann@acme.example", fmt.Sprintf("guess number %d xyz", i)))
		want(t, p, http.StatusUnprocessableEntity, "cannot be used to create a workspace")
		if p.Has("This e-mail already has an account") || p.Has("exists") {
			t.Fatalf("guess %d: the answer says the address has an account", i)
		}
	}
	if got := seq(); got != before {
		t.Fatalf("tenant id sequence moved from %d to %d: a tenant was built per guess", before, got)
	}
	p := c.submit(ta.url("", "/signup"), ta.url("", "/signup"), signupForm("X", "guess9", "ann@acme.example", testPassword))
	want(t, p, http.StatusTooManyRequests, "Too many failed sign-ins")
	want(t, c.login("acme", "ann@acme.example", testPassword), http.StatusTooManyRequests, "Too many failed sign-ins")
	if n := ta.countTenants(); n != 1 {
		t.Fatalf("tenants = %d, want 1", n)
	}
}

// NUL bytes and invalid UTF-8 in any query or form field, on every site,
// are bad input: 400, and no ERROR in the log (they were 500s with an
// ERROR line when they reached a query).
func TestBadTextIsBadRequest(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, nil)
	ta.tenant("acme", "ann@acme.example", "Acme One")
	ann := ta.client()
	ann.login("acme", "ann@acme.example", testPassword)
	for _, bad := range []string{"a\x00b", "a\xffb", "\xc3"} {
		for _, tc := range []struct {
			name, label, path string
			form              url.Values
			c                 *client
		}{
			{"query on the public site", "", "/go?slug=" + url.QueryEscape(bad), nil, ta.client()},
			{"slug check", "", "/signup/check?format=json&slug=" + url.QueryEscape(bad), nil, ta.client()},
			{"signup e-mail", "", "/signup", signupForm("X", "newco", bad, testPassword), ta.client()},
			{"signup password", "", "/signup", signupForm("X", "newco", "x@example.com", bad+"long enough pass"), ta.client()},
			{"tenant login", "acme", "/login", url.Values{"email": {bad}, "password": {"x"}}, ta.client()},
			{"tenant login next", "acme", "/login?next=" + url.QueryEscape("/"+bad), nil, ta.client()},
			{"admin login", "admin", "/login", url.Values{"email": {bad}, "password": {"x"}}, ta.client()},
			{"hotel form", "acme", "/hotels/new", url.Values{"name": {bad}, "city": {"X"}, "stars": {"3"}}, ann},
			{"field name", "acme", "/hotels/new", url.Values{bad: {"x"}, "name": {"N"}, "city": {"X"}, "stars": {"3"}}, ann},
			{"hotel list query", "acme", "/?q=" + url.QueryEscape(bad), nil, ann},
		} {
			t.Run(fmt.Sprintf("%s %q", tc.name, bad), func(t *testing.T) {
				var p *page
				if tc.form == nil {
					p = tc.c.get(ta.url(tc.label, tc.path))
				} else {
					p = tc.c.submit(ta.url(tc.label, tc.path), ta.url(tc.label, tc.path), tc.form)
				}
				want(t, p, http.StatusBadRequest, "not valid text")
			})
		}
	}
	if n := ta.errors.Load(); n != 0 {
		t.Fatalf("%d ERROR log records for bad input", n)
	}
}

func TestSlugCheck(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, nil)
	ta.tenant("acme", "acme@example.com")
	c := ta.client()
	for slug, wantOK := range map[string]bool{"acme": false, "admin": false, "-x": false, "fresh": true, "Fresh": true} {
		req, _ := http.NewRequest(http.MethodGet, ta.url("", "/signup/check?slug="+url.QueryEscape(slug)), nil)
		req.Header.Set("Accept", "application/json")
		resp, err := c.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			OK      bool
			Message string
		}
		err = json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		if err != nil || res.OK != wantOK || res.Message == "" {
			t.Errorf("check %q: %+v, %v; want ok=%v with a message", slug, res, err, wantOK)
		}
	}
	// Without JavaScript: the form's "Check availability" button, and the
	// check URL itself, answer with the form and the verdict.
	p := c.submit(ta.url("", "/signup"), ta.url("", "/signup"), url.Values{"action": {"check"}, "slug": {"acme"}, "name": {"Kept"}})
	want(t, p, http.StatusOK, "acme is taken", `value="Kept"`)
	want(t, c.get(ta.url("", "/signup/check?slug=fresh")), http.StatusOK, "fresh is available")
	if n := ta.countTenants(); n != 1 {
		t.Fatalf("a check created a tenant: %d tenants", n)
	}
}

// The walls between tenants, through HTTP: a valid session of one tenant
// is no session in another (signed out, member there or not), signing in there without a membership
// fails (403, no session), and another tenant's hotel id names nothing
// (404) and changes nothing.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, nil)
	acme := ta.tenant("acme", "ann@acme.example", "Acme One", "Acme Two", "Acme Three", "Acme Four")
	globex := ta.tenant("globex", "gus@globex.example", "Globex One")
	ann, gus := ta.client(), ta.client()
	want(t, ann.login("acme", "ann@acme.example", testPassword), http.StatusOK, "Acme One")
	want(t, gus.login("globex", "gus@globex.example", testPassword), http.StatusOK, "Globex One")

	// Signing in on acme with globex's account: 403, and no session.
	p := gus.login("acme", "gus@globex.example", testPassword)
	want(t, p, http.StatusForbidden, "has no access to Acme")
	if gus.cookie("acme", "session") != nil {
		t.Fatal("a non-member got a session on acme")
	}

	// Gus's globex session, presented to acme (copied by hand: the
	// browser never sends a host-only cookie to another host). A session
	// belongs to the host it was made on: on acme it is no session at
	// all, even once gus is a member of acme too.
	ck := gus.cookie("globex", "session")
	if ck == nil || ck.Domain != "" {
		t.Fatalf("globex session cookie: %+v; want a host-only cookie", ck)
	}
	acmeHotel := ta.hotelID(acme, "Acme Four")
	var gusID int64
	if err := ta.app.store.Pool().QueryRow(t.Context(), "SELECT id FROM public.users WHERE email = 'gus@globex.example'").Scan(&gusID); err != nil {
		t.Fatal(err)
	}
	for _, member := range []bool{false, true} {
		if member {
			if err := ta.app.store.AddMemberTx(t.Context(), ta.app.store.Pool(), gusID, acme.ID, accounts.RoleOwner); err != nil {
				t.Fatal(err)
			}
		}
		for _, path := range []string{"/", "/members", fmt.Sprintf("/hotels/%d", acmeHotel), fmt.Sprintf("/hotels/%d/edit", acmeHotel)} {
			req, _ := http.NewRequest(http.MethodGet, ta.url("acme", path), nil)
			req.AddCookie(&http.Cookie{Name: "session", Value: ck.Value})
			p := ta.client().do(req)
			if p.URL.Path != "/login" || !p.Has("Sign in to Acme") || p.Has("gus@globex.example") {
				t.Fatalf("acme%s with globex's session (gus member of acme: %v): %d on %s, want the sign-in page, signed out\n%s",
					path, member, p.Status, p.URL, excerpt(p.Body))
			}
			if p.Has("Acme One") {
				t.Fatalf("%s: acme's data shown", path)
			}
		}
	}

	// Acme's hotel id on globex: globex has no such hotel (ids are per
	// schema), and a delete posted there changes nothing anywhere.
	path := fmt.Sprintf("/hotels/%d", acmeHotel)
	want(t, gus.get(ta.url("globex", path)), http.StatusNotFound, fmt.Sprintf("There is no hotel #%d in Globex", acmeHotel))
	p = gus.submit(ta.url("globex", "/"), ta.url("globex", path+"/delete"), nil)
	want(t, p, http.StatusNotFound, "Nothing was changed")
	p = gus.submit(ta.url("globex", "/"), ta.url("globex", path+"/edit"), url.Values{"name": {"Pwned"}, "city": {"X"}, "stars": {"1"}})
	want(t, p, http.StatusNotFound)
	if ta.hotelID(acme, "Acme Four") != acmeHotel || ta.hotelID(globex, "Pwned") != 0 {
		t.Fatal("a request on globex changed data")
	}
	// Garbage ids are 404s too, not errors.
	for _, bad := range []string{"/hotels/0", "/hotels/-1", "/hotels/abc", "/hotels/99999999999999999999", "/hotels/1%27%20OR%201=1"} {
		want(t, ann.get(ta.url("acme", bad)), http.StatusNotFound)
	}
	// Signed out: sent to sign in, with the way back.
	p = ta.client().get(ta.url("acme", path))
	if p.URL.Path != "/login" || p.URL.Query().Get("next") != path {
		t.Fatalf("signed out: landed on %s, want /login?next=%s", p.URL, path)
	}
}

// Hotels and rooms through the tenant app: create, search, page, edit,
// delete, with errors next to their fields and nothing saved on bad input.
func TestHotelsCRUD(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, nil)
	acme := ta.tenant("acme", "ann@acme.example")
	c := ta.client()
	c.login("acme", "ann@acme.example", testPassword)
	u := func(p string) string { return ta.url("acme", p) }

	p := c.submit(u("/hotels/new"), u("/hotels/new"), url.Values{"name": {"Seaside"}, "city": {"Nice"}, "stars": {"4"}})
	want(t, p, http.StatusOK, `Added hotel "Seaside"`, "Nice")
	id := ta.hotelID(acme, "Seaside")

	for _, tc := range []struct {
		name string
		form url.Values
		msg  string
	}{
		{"empty", url.Values{"name": {""}, "city": {""}, "stars": {"3"}}, "This field is required."},
		{"too long", url.Values{"name": {strings.Repeat("n", 101)}, "city": {"Nice"}, "stars": {"3"}}, "Use at most 100 characters."},
		{"stars", url.Values{"name": {"Y"}, "city": {"Nice"}, "stars": {"9"}}, "Choose from 1 to 5 stars."},
		{"control characters", url.Values{"name": {"a\x07b"}, "city": {"Nice"}, "stars": {"3"}}, "control characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := c.submit(u("/hotels/new"), u("/hotels/new"), tc.form)
			want(t, p, http.StatusUnprocessableEntity, tc.msg)
			p = c.submit(u(fmt.Sprintf("/hotels/%d/edit", id)), u(fmt.Sprintf("/hotels/%d/edit", id)), tc.form)
			want(t, p, http.StatusUnprocessableEntity, tc.msg)
		})
	}
	// Rooms.
	rp := fmt.Sprintf("/hotels/%d/rooms/new", id)
	want(t, c.submit(u(rp), u(rp), url.Values{"number": {"101"}, "beds": {"2"}, "price": {"99,50"}}), http.StatusOK, "Added room 101", "99.50")
	want(t, c.submit(u(rp), u(rp), url.Values{"number": {"101"}, "beds": {"2"}, "price": {"10"}}), 422, "Room 101 already exists")
	want(t, c.submit(u(rp), u(rp), url.Values{"number": {"102"}, "beds": {"50"}, "price": {"-3"}}), 422, "from 1 to 20 beds", "Enter a price")

	// Edit, then a forged delete (refused), then the real one.
	ep := fmt.Sprintf("/hotels/%d/edit", id)
	want(t, c.submit(u(ep), u(ep), url.Values{"name": {"Seaside Palace"}, "city": {"Nice"}, "stars": {"5"}}), http.StatusOK, "Saved.", "Seaside Palace")
	dp := fmt.Sprintf("/hotels/%d/delete", id)
	want(t, c.get(u(dp)), http.StatusOK, `Delete the hotel "Seaside Palace" in Nice?`, "Its room will be deleted too")
	want(t, c.post(u(dp), url.Values{"csrf": {"forged"}}), http.StatusForbidden)
	if ta.hotelID(acme, "Seaside Palace") != id {
		t.Fatal("a forged delete deleted the hotel")
	}
	want(t, c.submit(u(dp), u(dp), nil), http.StatusOK, `Deleted hotel "Seaside Palace"`)
	if ta.hotelID(acme, "Seaside Palace") != 0 {
		t.Fatal("the hotel is still there")
	}

	// Search and pages (20 a page).
	for i := range 23 {
		city := "Lyon"
		if i%2 == 0 {
			city = "Paris"
		}
		c.submit(u("/hotels/new"), u("/hotels/new"), url.Values{"name": {fmt.Sprintf("Hotel %02d", i)}, "city": {city}, "stars": {"3"}})
	}
	want(t, c.get(u("/")), http.StatusOK, "Page 1 of 2", "23 hotels", "Hotel 00", "Next →")
	p = c.get(u("/?page=2"))
	want(t, p, http.StatusOK, "Page 2 of 2", "Hotel 22")
	if p.Has("Hotel 00") {
		t.Fatal("page 2 shows page 1's hotels")
	}
	want(t, c.get(u("/?q=paris")), http.StatusOK, "12 hotels", "Page 1 of 1")
	want(t, c.get(u("/?q=%25")), http.StatusOK, "No hotel matches")
}

// bothRoleModes runs test with one role and with split roles, where the
// app's shared-table code runs as the runtime role.
func bothRoleModes(t *testing.T, test func(t *testing.T, runtime bool)) {
	t.Parallel()
	for _, runtime := range []bool{false, true} {
		t.Run(map[bool]string{false: "one role", true: "split roles"}[runtime], func(t *testing.T) {
			t.Parallel()
			test(t, runtime)
		})
	}
}

func TestLoginThrottledInTheApp(t *testing.T) { bothRoleModes(t, testLoginThrottledInTheApp) }

func testLoginThrottledInTheApp(t *testing.T, runtime bool) {
	ta := newTestApp(t, &appOpts{runtime: runtime, pairLimit: &accounts.Limit{Max: 3, Window: time.Minute, Block: time.Minute}})
	ta.tenant("acme", "ann@acme.example")
	c := ta.client()
	for range 3 {
		want(t, c.login("acme", "ann@acme.example", "wrong password"), http.StatusUnauthorized, "Wrong e-mail or password.")
	}
	want(t, c.login("acme", "ann@acme.example", testPassword), http.StatusTooManyRequests, "Too many failed sign-ins")
	if c.cookie("acme", "session") != nil {
		t.Fatal("signed in while throttled")
	}
	ta.noErrors()
}

// An owner invites a member by link; the link works once; members cannot
// invite.
func TestInviteMember(t *testing.T) { bothRoleModes(t, testInviteMember) }

func testInviteMember(t *testing.T, runtime bool) {
	ta := newTestApp(t, &appOpts{runtime: runtime})
	ta.tenant("acme", "ann@acme.example", "Acme One")
	owner := ta.client()
	owner.login("acme", "ann@acme.example", testPassword)
	p := owner.submit(ta.url("acme", "/members"), ta.url("acme", "/members/invite"), url.Values{"email": {"bea@example.com"}, "role": {"member"}})
	want(t, p, http.StatusCreated, "Invitation for bea@example.com")
	i := strings.Index(p.Body, ta.url("acme", "/invite/"))
	if i < 0 {
		t.Fatal("no invitation link on the page")
	}
	link := p.Body[i:]
	link = link[:strings.IndexByte(link, '"')]

	bea := ta.client()
	want(t, bea.get(link), http.StatusOK, "Join Acme", "bea@example.com", "Otherwise choose one")
	p = bea.submit(link, link, url.Values{"password": {testPassword}, "confirm": {testPassword}})
	want(t, p, http.StatusOK, "You joined Acme", "Acme One")
	want(t, ta.client().get(link), http.StatusNotFound, "Invitation not valid")
	want(t, owner.get(ta.url("acme", "/members")), http.StatusOK, "bea@example.com")
	// A member may not invite, nor grant ownership.
	want(t, bea.submit(ta.url("acme", "/members"), ta.url("acme", "/members/invite"), url.Values{"email": {"c@example.com"}, "role": {"member"}}), http.StatusForbidden)
	want(t, owner.submit(ta.url("acme", "/members"), ta.url("acme", "/members/invite"), url.Values{"email": {"c@example.com"}, "role": {"owner"}}), 422, "Choose member or admin")
	ta.noErrors()
}

// The invitation page does not tell whether the invited address has an
// account: the pages for an address with one and for a new address are
// the same but for the address and tokens; accepting with a wrong password
// for the existing account is answered without saying it exists.
func TestInvitationDoesNotEnumerate(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, nil)
	ta.tenant("acme", "ann@acme.example")
	ta.tenant("globex", "gus@globex.example")
	owner := ta.client()
	owner.login("acme", "ann@acme.example", testPassword)
	invite := func(email string) string {
		p := owner.submit(ta.url("acme", "/members"), ta.url("acme", "/members/invite"), url.Values{"email": {email}, "role": {"member"}})
		i := strings.Index(p.Body, ta.url("acme", "/invite/"))
		if i < 0 {
			t.Fatalf("no invitation link for %s", email)
		}
		link := p.Body[i:]
		return link[:strings.IndexByte(link, '"')]
	}
	norm := regexp.MustCompile(`value="[^"]*"|/invite/[A-Za-z0-9_-]+|[a-z]+@[a-z]+\.example`)
	page := func(link string) string {
		p := ta.client().get(link)
		want(t, p, http.StatusOK, "Join Acme")
		return norm.ReplaceAllString(p.Body, "X")
	}
	existing, fresh := invite("gus@globex.example"), invite("new@newco.example")
	if a, b := page(existing), page(fresh); a != b {
		t.Fatalf("the invitation pages differ between an address with an account and a new one:\n%s\n---\n%s", a, b)
	}
	p := ta.client().submit(existing, existing, url.Values{"password": {"not gus's password at all"}, "confirm": {"not gus's password at all"}})
	want(t, p, http.StatusUnprocessableEntity, "This password was not accepted")
	if p.Has("Wrong password for this account") || p.Has("already has an account:") {
		t.Fatal("the answer says the address has an account")
	}
	want(t, ta.client().submit(existing, existing, url.Values{"password": {testPassword}, "confirm": {testPassword}}), http.StatusOK, "You joined Acme")
}

// The platform admin: its own accounts, tenant list and filters, suspend
// (in force on the tenant's host at once), extend, typed-confirmation
// delete, and the charts. With split roles the admin's sign-in, session
// and request counts run as the runtime role, its tenant list and actions
// through the Registry (the owner).
func TestAdmin(t *testing.T) { bothRoleModes(t, testAdmin) }

func testAdmin(t *testing.T, runtime bool) {
	ta := newTestApp(t, &appOpts{runtime: runtime})
	ctx := context.Background()
	ta.tenant("acme", "ann@acme.example", "Acme One")
	ta.tenant("globex", "gus@globex.example")
	ta.createAdmin("ops@example.com")
	adm := ta.client()
	u := func(p string) string { return ta.url("admin", p) }
	// Signed out, and tenant users are not admins.
	if p := adm.get(u("/tenants")); p.URL.Path != "/login" {
		t.Fatalf("signed out: on %s, want /login", p.URL)
	}
	want(t, adm.login("admin", "ann@acme.example", testPassword), http.StatusUnauthorized, "Wrong e-mail or password.")
	want(t, adm.login("admin", "ops@example.com", testPassword), http.StatusOK, "Overview", "New tenants per week")

	// Requests are counted per tenant and charted.
	visitor := ta.client()
	for range 5 {
		visitor.get(ta.url("acme", "/login"))
	}
	condotest.WaitFor(t, 5*time.Second, "acme's requests on the chart", func() bool {
		return adm.get(u("/")).Has("<title>acme: 5</title>")
	})

	want(t, adm.get(u("/tenants")), http.StatusOK, "acme", "globex")
	p := adm.get(u("/tenants?q=glob"))
	want(t, p, http.StatusOK, "globex")
	if p.Has(">acme<") {
		t.Fatal("search for glob lists acme")
	}
	want(t, adm.get(u("/tenants/acme")), http.StatusOK, "Hotels</dt><dd>1", "ann@acme.example")

	// Suspend: the tenant's site shows the suspended page; resume undoes it.
	ann := ta.client()
	want(t, ann.login("acme", "ann@acme.example", testPassword), http.StatusOK, "Acme One")
	want(t, adm.submit(u("/tenants/acme"), u("/tenants/acme/suspend"), nil), http.StatusOK, "Suspended acme")
	condotest.WaitFor(t, time.Second, "acme suspended on its host", func() bool {
		return ann.get(ta.url("acme", "/")).Status == http.StatusForbidden
	})
	want(t, ann.get(ta.url("acme", "/")), http.StatusForbidden, "suspended")
	want(t, adm.get(u("/tenants?status=suspended")), http.StatusOK, "acme")
	want(t, adm.submit(u("/tenants/acme"), u("/tenants/acme/resume"), nil), http.StatusOK, "Resumed acme")
	condotest.WaitFor(t, time.Second, "acme back", func() bool { return ann.get(ta.url("acme", "/")).Status == http.StatusOK })

	// Extend paid_until.
	want(t, adm.submit(u("/tenants/acme"), u("/tenants/acme/extend"), url.Values{"until": {"2031-05-01"}, "end_trial": {"on"}}), http.StatusOK, "acme is paid until 1 May 2031")
	tn, _ := ta.env.Registry.Get(ctx, "acme")
	if tn.PaidUntil == nil || tn.PaidUntil.Format(time.DateOnly) != "2031-05-01" || tn.OnTrial {
		t.Fatalf("after extend: %+v", tn)
	}
	want(t, adm.submit(u("/tenants/acme"), u("/tenants/acme/extend"), url.Values{"until": {"someday"}}), 422, "Enter a date")

	// Delete needs the slug typed.
	want(t, adm.submit(u("/tenants/globex"), u("/tenants/globex/delete"), url.Values{"confirm": {"acme"}}), 422, "Type globex exactly")
	if tn, _ := ta.env.Registry.Get(ctx, "globex"); tn.Status != condo.StatusActive {
		t.Fatalf("globex is %s after a wrong confirmation", tn.Status)
	}
	want(t, adm.submit(u("/tenants/globex"), u("/tenants/globex/delete"), url.Values{"confirm": {"globex"}}), http.StatusOK, "Deleted globex")
	condotest.WaitFor(t, time.Second, "globex gone", func() bool { return ta.client().get(ta.url("globex", "/login")).Status == http.StatusNotFound })

	// Create, with an owner invitation.
	p = adm.submit(u("/tenants/new"), u("/tenants/new"), url.Values{"name": {"Initech"}, "slug": {"initech"}, "owner": {"boss@initech.example"}})
	want(t, p, http.StatusCreated, "Owner invitation for boss@initech.example", ta.url("initech", "/invite/"))
	want(t, adm.submit(u("/tenants/new"), u("/tenants/new"), url.Values{"name": {"X"}, "slug": {"admin"}}), 422, "is reserved")
	// A forged admin form changes nothing.
	want(t, adm.post(u("/tenants/acme/suspend"), url.Values{"csrf": {"x"}}), http.StatusForbidden)
	if tn, _ := ta.env.Registry.Get(ctx, "acme"); tn.Status != condo.StatusActive {
		t.Fatal("a forged suspend took effect")
	}
	// Signing out deletes the session.
	want(t, adm.submit(u("/"), u("/logout"), nil), http.StatusOK)
	if p := adm.get(u("/tenants")); p.URL.Path != "/login" {
		t.Fatalf("signed out: on %s, want /login", p.URL)
	}
	ta.noErrors()
}

// After sign-in, next= sends the browser on only to a path of this host,
// judged as the browser will read the Location (issue 10, item 2): each
// next below leads a browser to another host.
func TestLoginNextStaysOnHost(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, nil)
	ta.tenant("acme", "ann@acme.example")
	if _, err := ta.app.store.CreateAdmin(context.Background(), "ops@example.com", testPassword); err != nil {
		t.Fatal(err)
	}
	for label, email := range map[string]string{"acme": "ann@acme.example", "admin": "ops@example.com"} {
		c := ta.client()
		c.login(label, email, testPassword)
		c.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		location := func(next string) string {
			t.Helper()
			resp, err := c.c.Get(ta.url(label, "/login?next="+url.QueryEscape(next)))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("%s: signed in, next=%q: status %d, want 303", label, next, resp.StatusCode)
			}
			return resp.Header.Get("Location")
		}
		for _, next := range []string{"/\t/evil.com", "/\n/evil.com", "\\\\evil.com", "/\\evil.com", " //evil.com", "\x01//evil.com", "/\t\\evil.com", "https:evil.com"} {
			if loc := location(next); loc != "/" {
				t.Errorf("%s: next=%q: Location %q, want /", label, next, loc)
			}
		}
		if loc := location("/tenants?q=a"); loc != "/tenants?q=a" {
			t.Errorf("%s: a path of this host: Location %q", label, loc)
		}
	}
}
