package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/condo-dev/condo/condotest"
)

// chromium returns the headless browser's path, skipping the test when
// there is none (unless CONDO_REQUIRE_TOOLS is set, as in CI).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CONDO_REQUIRE_TOOLS") != "" {
		t.Fatal("no Chromium found: install Debian's chromium package")
	}
	t.Skip("no Chromium found (install Debian's chromium package to run the browser tests)")
	return ""
}

// browser is one headless Chromium for a test; each [browser.user] is a
// separate browser context (its own cookies), like a separate person.
type browser struct {
	t     *testing.T
	ta    *testApp
	alloc context.Context
	root  context.Context // the first tab's context, which owns the browser
	shots []shot
}

type shot struct {
	name string
	png  []byte
}

func newBrowser(t *testing.T, ta *testApp) *browser {
	t.Helper()
	path := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests may run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("host-resolver-rules", "MAP *.localhost 127.0.0.1, MAP localhost 127.0.0.1"),
	}
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	b := &browser{t: t, ta: ta, alloc: alloc}
	t.Cleanup(b.saveShots)
	return b
}

// tab is one person's page.
type tab struct {
	b    *browser
	name string
	ctx  context.Context
}

// user opens a tab in a fresh browser context.
func (b *browser) user(name string) *tab {
	b.t.Helper()
	// The first tab starts the browser; later ones open in new browser
	// contexts of it.
	parent, opts := b.alloc, []chromedp.ContextOption(nil)
	if b.root != nil {
		parent, opts = b.root, []chromedp.ContextOption{chromedp.WithNewBrowserContext()}
	}
	ctx, cancel := chromedp.NewContext(parent, opts...)
	b.t.Cleanup(cancel)
	if b.root == nil {
		b.root = ctx
	}
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("start Chromium: %v", err)
	}
	tb := &tab{b: b, name: name, ctx: ctx}
	b.t.Cleanup(func() {
		if b.t.Failed() {
			tb.snap("at-failure")
		}
	})
	return tb
}

// open navigates and returns the HTTP status of the page.
func (tb *tab) open(url string) int64 {
	tb.b.t.Helper()
	resp, err := chromedp.RunResponse(tb.ctx, chromedp.Navigate(url))
	if err != nil {
		tb.b.t.Fatalf("%s: open %s: %v", tb.name, url, err)
	}
	return resp.Status
}

// click clicks sel (a button or link) and waits for the next page.
func (tb *tab) click(sel string) int64 {
	tb.b.t.Helper()
	resp, err := chromedp.RunResponse(tb.ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		tb.b.t.Fatalf("%s: click %s: %v", tb.name, sel, err)
	}
	return resp.Status
}

func (tb *tab) fill(fields ...string) {
	tb.b.t.Helper()
	var steps []chromedp.Action[chromedp.Void]
	for i := 0; i+1 < len(fields); i += 2 {
		sel := chromedp.CSS(fields[i])
		steps = append(steps, chromedp.Clear(sel), chromedp.SendKeys(sel, fields[i+1]))
	}
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		tb.b.t.Fatalf("%s: fill %v: %v", tb.name, fields, err)
	}
}

func (tb *tab) choose(sel, value string) {
	tb.b.t.Helper()
	if err := chromedp.Do(tb.ctx, chromedp.SetValue(chromedp.CSS(sel), value)); err != nil {
		tb.b.t.Fatalf("%s: choose %s in %s: %v", tb.name, value, sel, err)
	}
}

// text is the visible text of the page's main content.
func (tb *tab) text() string {
	tb.b.t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		tb.b.t.Fatalf("%s: read page: %v", tb.name, err)
	}
	return s
}

func (tb *tab) location() string {
	tb.b.t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Location())
	if err != nil {
		tb.b.t.Fatalf("%s: location: %v", tb.name, err)
	}
	return s
}

// expect checks the page's text for each of texts, and takes a screenshot
// of it (kept for a failure report).
func (tb *tab) expect(step string, texts ...string) {
	tb.b.t.Helper()
	tb.snap(step)
	body := tb.text()
	for _, s := range texts {
		if !strings.Contains(body, s) {
			tb.b.t.Fatalf("%s, %s: page %s lacks %q; it says:\n%s", tb.name, step, tb.location(), s, body)
		}
	}
}

func (tb *tab) snap(step string) {
	png, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return // a failing browser is reported by the step itself
	}
	tb.b.shots = append(tb.b.shots, shot{name: fmt.Sprintf("%02d-%s-%s", len(tb.b.shots), tb.name, step), png: png})
}

// saveShots writes the screenshots of a failed test: to t.ArtifactDir()
// with -artifacts, else to a temporary directory that is kept. With
// CONDO_TEST_SCREENSHOTS=dir they are written there, failed or not.
func (b *browser) saveShots() {
	dir := os.Getenv("CONDO_TEST_SCREENSHOTS")
	if dir == "" && !b.t.Failed() || len(b.shots) == 0 {
		return
	}
	if dir != "" {
		dir = filepath.Join(dir, strings.NewReplacer("/", "-", "'", "", " ", "-").Replace(b.t.Name()))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.t.Logf("screenshots not saved: %v", err)
			return
		}
	} else if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		dir = b.t.ArtifactDir()
	} else {
		var err error
		if dir, err = os.MkdirTemp("", "hotels-screenshots-"); err != nil {
			b.t.Logf("screenshots not saved: %v", err)
			return
		}
	}
	for _, s := range b.shots {
		p := filepath.Join(dir, s.name+".png")
		if err := os.WriteFile(p, s.png, 0o644); err != nil {
			b.t.Logf("screenshot %s: %v", p, err)
		}
	}
	b.t.Logf("screenshots of the key pages: %s", dir)
}

// TestBrowser drives the app in headless Chromium, as people use it.
func TestBrowser(t *testing.T) {
	t.Parallel()
	chromium(t)
	t.Run("signup and hotels", testBrowserSignupAndHotels)
	t.Run("other tenant's user", testBrowserOtherTenant)
	t.Run("admin suspends", testBrowserAdminSuspends)
	t.Run("admin moves a tenant", testBrowserAdminMoves)
	t.Run("hotel photo", testBrowserPhoto)
	t.Run("photo thumbnail by job", testBrowserThumbnail)
	t.Run("password reset by mail", testBrowserPasswordReset)
}

// Signup lands the owner signed in on the new tenant's own host; then a
// hotel is created, edited and deleted (after confirmation).
func testBrowserSignupAndHotels(t *testing.T) {
	ta := newTestApp(t, nil)
	b := newBrowser(t, ta)
	owner := b.user("owner")

	owner.open(ta.url("", "/"))
	owner.expect("landing", "Create your workspace")
	owner.click(`a.button[href="/signup"]`)
	owner.fill("#f-name", "Harbour Hotels", "#f-slug", "harbour", "#f-email", "owner@harbour.example", "#f-password", testPassword)
	owner.expect("signup-form", "Create your workspace")
	if st := owner.click("#signup-submit"); st != 200 {
		t.Fatalf("signup: status %d", st)
	}
	if loc := owner.location(); loc != ta.url("harbour", "/") {
		t.Fatalf("after signup: on %s, want %s", loc, ta.url("harbour", "/"))
	}
	owner.expect("landed", "Welcome to Harbour Hotels", "owner@harbour.example", "Sign out", "No hotels yet")

	owner.click(`a.button[href="/hotels/new"]`)
	owner.fill("#f-name", "Quay House", "#f-city", "Bristol")
	owner.choose("#f-stars", "4")
	owner.click(`main form button[type=submit]`)
	owner.expect("created", `Added hotel "Quay House"`, "Bristol", "4★")

	owner.click(`a[href$="/edit"]`)
	owner.fill("#f-name", "") // Clear, then an error next to the field
	owner.click(`main form button[type=submit]`)
	owner.expect("edit-error", "This field is required.")
	owner.fill("#f-name", "Quay House Hotel")
	owner.click(`main form button[type=submit]`)
	owner.expect("edited", "Saved.", "Quay House Hotel")

	owner.click(`a[href$="/delete"]`)
	owner.expect("confirm-delete", `Delete the hotel "Quay House Hotel" in Bristol?`)
	owner.click(`button.danger`)
	owner.expect("deleted", `Deleted hotel "Quay House Hotel"`, "No hotels yet")
}

// A user of another tenant, with a valid session there, sees none of the
// first tenant's pages: the browser does not send the host-only cookie,
// signing in there gives 403, and the session copied over is no session.
func testBrowserOtherTenant(t *testing.T) {
	ta := newTestApp(t, nil)
	acme := ta.tenant("acme", "ann@acme.example", "Acme Secret Lodge")
	ta.tenant("globex", "gus@globex.example", "Globex Tower")
	b := newBrowser(t, ta)
	gus := b.user("gus")

	gus.open(ta.url("globex", "/login"))
	gus.fill("#f-email", "gus@globex.example", "#f-password", testPassword)
	gus.click(`main form button[type=submit]`)
	gus.expect("globex-home", "Globex Tower", "gus@globex.example")

	gus.open(ta.url("acme", "/"))
	gus.expect("acme-signed-out", "Sign in to Acme")
	if strings.Contains(gus.text(), "Acme Secret Lodge") {
		t.Fatal("acme's hotel shown to a signed-out visitor")
	}
	gus.fill("#f-email", "gus@globex.example", "#f-password", testPassword)
	if st := gus.click(`main form button[type=submit]`); st != 403 {
		t.Fatalf("gus signing in on acme: status %d, want 403", st)
	}
	gus.expect("acme-login-403", "No access", "gus@globex.example has no access to Acme")

	// The globex session cookie, planted on acme's host by hand.
	cookies, err := chromedp.Call(gus.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{ta.url("globex", "/")}})
	if err != nil {
		t.Fatal(err)
	}
	var session string
	for _, c := range cookies.Cookies {
		if c.Name == "session" {
			session = c.Value
			if c.Domain != "globex.localhost" {
				t.Fatalf("session cookie domain %q: want host-only globex.localhost", c.Domain)
			}
		}
	}
	if session == "" {
		t.Fatal("no globex session cookie in the browser")
	}
	id := ta.hotelID(acme, "Acme Secret Lodge")
	for _, path := range []string{"/", fmt.Sprintf("/hotels/%d", id), "/members"} {
		// Planted again each time: acme clears a cookie that is no session.
		if _, err := chromedp.Call(gus.ctx, network.SetCookie, network.SetCookieParams{Name: "session", Value: session, URL: ta.url("acme", "/")}); err != nil {
			t.Fatal(err)
		}
		// A session belongs to the host it was made on: here gus is
		// signed out, and sent to sign in.
		gus.open(ta.url("acme", path))
		gus.expect("acme-signed-out"+strings.ReplaceAll(path, "/", "-"), "Sign in to Acme")
		if strings.Contains(gus.text(), "Acme Secret Lodge") {
			t.Fatalf("acme%s shows acme's data to gus", path)
		}
	}
}

// The platform admin suspends a tenant; its site shows the suspended page.
func testBrowserAdminSuspends(t *testing.T) {
	ta := newTestApp(t, nil)
	ta.tenant("acme", "ann@acme.example", "Acme One")
	if _, err := ta.app.store.CreateAdmin(context.Background(), "ops@example.com", testPassword); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, ta)
	ops, visitor := b.user("ops"), b.user("visitor")
	if st := visitor.open(ta.url("acme", "/login")); st != 200 {
		t.Fatalf("acme before: status %d", st)
	}

	ops.open(ta.url("admin", "/"))
	ops.fill("#f-email", "ops@example.com", "#f-password", testPassword)
	ops.click(`main form button[type=submit]`)
	ops.expect("dashboard", "Overview", "New tenants per week", "Requests per tenant")
	ops.click(`nav a[href="/tenants"]`)
	ops.expect("tenants", "acme")
	ops.click(`a[href="/tenants/acme"]`)
	ops.expect("tenant", "Acme", "Hotels", "Suspend acme")
	ops.click(`form[action="/tenants/acme/suspend"] button`)
	ops.expect("suspended", "Suspended acme")

	deadline := time.Now().Add(time.Second)
	for st := visitor.open(ta.url("acme", "/login")); st != 403; st = visitor.open(ta.url("acme", "/login")) {
		if time.Now().After(deadline) {
			t.Fatalf("acme still answers %d a second after the suspension", st)
		}
	}
	visitor.expect("suspended-page", "Site suspended")
}

// The admin sees each tenant's tier, starts a move to a database of its
// own (a form with CSRF; the move runs in the background), sees the page
// follow it to the switch, and the tenant's site keeps its hotels.
func testBrowserAdminMoves(t *testing.T) {
	ta := newTestApp(t, &appOpts{tiers: true})
	ta.tenant("acme", "ann@acme.example", "Acme One", "Acme Two")
	if _, err := ta.app.store.CreateAdmin(context.Background(), "ops@example.com", testPassword); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, ta)
	ops := b.user("ops")
	ops.open(ta.url("admin", "/"))
	ops.fill("#f-email", "ops@example.com", "#f-password", testPassword)
	ops.click(`main form button[type=submit]`)
	ops.open(ta.url("admin", "/tenants"))
	ops.expect("tenants", "Tier", "schema")
	ops.click(`a[href="/tenants/acme"]`)
	ops.expect("tenant", "Isolation tier", "Move acme")
	ops.choose("#f-to", "database:main")
	ops.click(`form[action="/tenants/acme/move"] button`)
	ops.expect("moving", "Moving acme to database:main")
	// The move form comes back once the move started here has ended.
	condotest.WaitFor(t, time.Minute, "the admin page to show acme in its own database", func() bool {
		ops.open(ta.url("admin", "/tenants/acme"))
		text := ops.text()
		return strings.Contains(text, "database on server main") && strings.Contains(text, "Move acme")
	})
	ops.expect("moved", "Moved from schema", "old copy is kept")
	ops.open(ta.url("admin", "/tenants"))
	ops.expect("tenants after", "database (main)")
	tn, err := ta.env.Registry.Get(context.Background(), "acme")
	if err != nil || tn.Tier != "database" {
		t.Fatalf("acme after the move: %+v, %v", tn, err)
	}
	if ta.hotelID(tn, "Acme Two") == 0 {
		t.Error("acme's hotels did not move with it")
	}
	ta.noErrors()
}
