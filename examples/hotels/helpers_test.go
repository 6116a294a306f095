package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condofiles"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condomail"
	"github.com/condo-dev/condo/condostack"
	"github.com/condo-dev/condo/condotest"
	"github.com/condo-dev/condo/examples/hotels/accounts"
	"github.com/condo-dev/condo/examples/hotels/migrations"
	"github.com/condo-dev/condo/examples/hotels/notify"
	"github.com/condo-dev/condo/examples/hotels/web"
)

// testPassword passes CheckPassword.
const testPassword = "correct horse battery"

// testApp is the whole app (public site, tenant app, admin) behind a real
// condo.Server and resolver, on 127.0.0.1, over a fresh database.
type testApp struct {
	t    testing.TB
	env  *condostack.Stack
	app  *hotelsApp
	srv  *httptest.Server
	port string
	// errors counts the log records at level Error.
	errors *atomic.Int64
	dbURL  string
	// filesDir holds the tenants' files.
	filesDir string
	// outbox holds the mail sent, with appOpts.mail.
	outbox *condomail.Outbox
}

// directory publishes (or withdraws) the tenant's public hotel list, as
// its owner or "hotels directory on|off" would.
func (ta *testApp) directory(slug string, on bool) {
	ta.t.Helper()
	if err := web.SetDirectory(context.Background(), ta.env.Registry, slug, on); err != nil {
		ta.t.Fatal(err)
	}
}

// run runs the hotels command line on the test database and returns its
// output.
func (ta *testApp) run(args ...string) (string, error) {
	var out strings.Builder
	// The commands see the app's files (an export carries them, a purge
	// removes them), never a .condo directory of the package's.
	getenv := func(k string) string {
		if k == "FILES_DIR" {
			return ta.filesDir
		}
		return ""
	}
	cli := newCLI(&options{getenv: getenv, stdout: &out, stderr: &out})
	err := cli.Execute(context.Background(), append(args, "--database-url", ta.dbURL))
	return out.String(), err
}

// appOpts tunes newTestApp.
type appOpts struct {
	accountLimit *accounts.Limit
	pairLimit    *accounts.Limit
	// runtime splits the roles: tenant transactions run as a runtime
	// role (what serve --runtime-database-url does).
	runtime bool
	// cluster, when set, holds the database instead of the shared test
	// server (fault tests restart it).
	cluster *condotest.Cluster
	// mail turns background jobs on, with mail to an outbox (as dev
	// does), worked while the test runs.
	mail bool
	// pending fills a pool of that many pending tenants before the test
	// (what serve --pending-tenants keeps filled).
	pending int
	// tiers lets the owner create databases and gives the stack a secret
	// key: the database tier and moves between tiers work.
	tiers bool
	// poolSize is the stack's pool size. Defaults to 8.
	poolSize int
}

// errorCounter passes records on to next and counts those at level Error.
type errorCounter struct {
	slog.Handler
	n *atomic.Int64
}

func (h errorCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.n.Add(1)
	}
	return h.Handler.Handle(ctx, r)
}

func (h errorCounter) WithAttrs(as []slog.Attr) slog.Handler {
	return errorCounter{h.Handler.WithAttrs(as), h.n}
}

func (h errorCounter) WithGroup(name string) slog.Handler {
	return errorCounter{h.Handler.WithGroup(name), h.n}
}

func newTestApp(t testing.TB, o *appOpts) *testApp {
	t.Helper()
	if o == nil {
		o = &appOpts{}
	}
	ctx := context.Background()
	db := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{Runtime: o.runtime, Cluster: o.cluster, CreateDB: o.tiers})
	errs := new(atomic.Int64)
	logger := slog.New(errorCounter{condotest.Logger(t).Handler(), errs})
	filesDir := t.TempDir()
	files, err := condofiles.NewLocal(filesDir)
	if err != nil {
		t.Fatal(err)
	}
	appOptions := &options{
		accounts: &accounts.Config{
			Argon2:       &accounts.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1},
			AccountLimit: o.accountLimit,
			PairLimit:    o.pairLimit,
		},
		usageInterval: 50 * time.Millisecond,
		logger:        logger,
	}
	var outbox *condomail.Outbox
	if o.mail {
		outbox = &condomail.Outbox{}
		appOptions.outbox = outbox
	}
	open := func(runtimeURL string) *condostack.Stack {
		cfg := &condostack.Config{
			DatabaseURL: db.URL, RuntimeDatabaseURL: runtimeURL, PoolSize: cmp.Or(o.poolSize, 8),
			SharedMigrations: migrations.Shared(), TenantMigrations: migrations.Tenant(),
			RuntimeGrants: migrations.RuntimeGrants(), Logger: logger,
			// serve's defaults.
			StatementTimeout: 30 * time.Second, AcquireTimeout: 3 * time.Second,
			Files: files, FilesConfig: &condofiles.Config{ServeThroughServer: true},
		}
		if o.tiers {
			cfg.SecretKey = bytes.Repeat([]byte{0x42}, 32)
		}
		if o.mail {
			// As dev has it: the app's workers, mail to the outbox.
			jobs := stackConfig(appOptions).Jobs
			jobs.FetchPollInterval = 200 * time.Millisecond
			cfg.Jobs = jobs
			cfg.Mail = &condomail.Config{Sender: outbox, From: "noreply@localhost", FromName: "Hotels", Templates: notify.Templates()}
		}
		st, err := condostack.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Close)
		return st
	}
	env := open("")
	if _, err := env.Migrator.MigrateShared(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := env.MigrateJobs(ctx); err != nil {
		t.Fatal(err)
	}
	if o.runtime {
		// Split roles, as serve --runtime-database-url runs them: the
		// runtime role is granted its shared tables, which exist now.
		env = open(db.RuntimeURL)
	}
	a, err := newApp(ctx, env, appOptions)
	if err != nil {
		t.Fatal(err)
	}
	if o.pending > 0 {
		if _, err := condo.NewPendingPool(env.Registry, &condo.PendingPoolConfig{Size: o.pending, Logger: logger}).Fill(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if o.mail {
		if err := env.Jobs.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_ = env.Jobs.Stop(sctx)
		})
	}
	res := env.Resolver // base domain localhost
	if err := res.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Stop(context.Background()) })
	srv, err := condohttp.NewServer(&condohttp.ServerConfig{Handler: condohttp.NewRouter(res, a.handlers), Resolver: res, Logger: logger, DisableAccessLog: true,
		Ready: env.Pool.Ping})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	a.usage.Start(ctx)
	t.Cleanup(a.usage.Stop)
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	return &testApp{t: t, env: env, app: a, srv: ts, port: port, errors: errs, dbURL: db.URL, filesDir: filesDir, outbox: outbox}
}

// createAdmin makes a platform admin as the admin command does: on the
// owner's pool (the runtime role may only read admin_users).
func (ta *testApp) createAdmin(email string) {
	ta.t.Helper()
	store := accounts.New(ta.env.Pool, &accounts.Config{Argon2: &accounts.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}})
	if _, err := store.CreateAdmin(context.Background(), email, testPassword); err != nil {
		ta.t.Fatal(err)
	}
}

// noErrors fails the test if the app logged an error (such as a query
// the runtime role has no grant for).
func (ta *testApp) noErrors() {
	ta.t.Helper()
	if n := ta.errors.Load(); n != 0 {
		ta.t.Fatalf("the app logged %d error(s)", n)
	}
}

// url returns the address of path on host label ("" for the public site,
// "admin", or a slug).
func (ta *testApp) url(label, path string) string {
	host := "localhost"
	if label != "" {
		host = label + ".localhost"
	}
	return "http://" + host + ":" + ta.port + path
}

// tenant makes a tenant owned by a new user (email, testPassword) with the
// given hotels, the way a signup does, and returns it.
func (ta *testApp) tenant(slug, email string, hotels ...string) *condo.Tenant {
	ta.t.Helper()
	ctx := context.Background()
	tn, err := ta.env.Registry.Create(ctx, condo.CreateParams{Slug: slug, Name: strings.ToUpper(slug[:1]) + slug[1:],
		OnCreated: func(ctx context.Context, tx pgx.Tx, t *condo.Tenant) error {
			var uid int64
			err := tx.QueryRow(ctx, "SELECT id FROM public.users WHERE lower(email) = lower($1)", email).Scan(&uid)
			if errors.Is(err, pgx.ErrNoRows) {
				u, err := ta.app.store.CreateUserTx(ctx, tx, email, testPassword)
				if err != nil {
					return err
				}
				uid = u.ID
			} else if err != nil {
				return err
			}
			for _, h := range hotels {
				if _, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ($1, 'Testville', 3)", h); err != nil {
					return err
				}
			}
			return ta.app.store.AddMemberTx(ctx, tx, uid, t.ID, accounts.RoleOwner)
		}})
	if err != nil {
		ta.t.Fatal(err)
	}
	return tn
}

// hotelID returns the id of the tenant's hotel called name, 0 if none.
func (ta *testApp) hotelID(tn *condo.Tenant, name string) int64 {
	ta.t.Helper()
	var id int64
	err := ta.env.Registry.InTx(context.Background(), tn, func(ctx context.Context, tx pgx.Tx) error {
		err := tx.QueryRow(ctx, "SELECT id FROM hotel WHERE name = $1", name).Scan(&id)
		if err == pgx.ErrNoRows {
			return nil
		}
		return err
	})
	if err != nil {
		ta.t.Fatal(err)
	}
	return id
}

func (ta *testApp) countTenants() int {
	ta.t.Helper()
	var n int
	if err := ta.env.Pool.QueryRow(context.Background(), "SELECT count(*) FROM public.condo_tenants").Scan(&n); err != nil {
		ta.t.Fatal(err)
	}
	return n
}

func (ta *testApp) countUsers() int {
	ta.t.Helper()
	var n int
	if err := ta.env.Pool.QueryRow(context.Background(), "SELECT count(*) FROM public.users").Scan(&n); err != nil {
		ta.t.Fatal(err)
	}
	return n
}

// client is a browser without a rendering engine: a cookie jar and a
// dialer that sends every host to the test server.
type client struct {
	t  testing.TB
	ta *testApp
	c  *http.Client
}

func (ta *testApp) client() *client {
	return ta.clientTo(ta.srv.Listener.Addr().String())
}

// clientTo is a client whose every connection goes to addr.
func (ta *testApp) clientTo(addr string) *client {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	ta.t.Cleanup(tr.CloseIdleConnections)
	return &client{t: ta.t, ta: ta, c: &http.Client{Jar: jar, Transport: tr, Timeout: 10 * time.Second}}
}

// page is a response, read.
type page struct {
	Status int
	URL    *url.URL
	Body   string
}

// Has reports whether the page's text (HTML entities decoded) has s.
func (p *page) Has(s string) bool { return strings.Contains(html.UnescapeString(p.Body), s) }

func (c *client) do(req *http.Request) *page {
	c.t.Helper()
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return &page{Status: resp.StatusCode, URL: resp.Request.URL, Body: string(b)}
}

func (c *client) get(u string) *page {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do(req)
}

func (c *client) post(u string, form url.Values) *page {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// submit loads formPage, takes its CSRF token, and posts form to action.
func (c *client) submit(formPage, action string, form url.Values) *page {
	c.t.Helper()
	p := c.get(formPage)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(p.Body)
	if m == nil {
		c.t.Fatalf("no CSRF token on %s (status %d)", formPage, p.Status)
	}
	form = cloneValues(form)
	form.Set("csrf", html.UnescapeString(m[1]))
	return c.post(action, form)
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// login signs in on a tenant (or the admin) host.
func (c *client) login(label, email, password string) *page {
	c.t.Helper()
	return c.submit(c.ta.url(label, "/login"), c.ta.url(label, "/login"), url.Values{"email": {email}, "password": {password}})
}

func (c *client) cookie(label, name string) *http.Cookie {
	u, _ := url.Parse(c.ta.url(label, "/"))
	for _, ck := range c.c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

func want(t testing.TB, p *page, status int, texts ...string) {
	t.Helper()
	if p.Status != status {
		t.Fatalf("%s: status %d, want %d\n%s", p.URL, p.Status, status, excerpt(p.Body))
	}
	for _, s := range texts {
		if !p.Has(s) {
			t.Fatalf("%s: page lacks %q\n%s", p.URL, s, excerpt(p.Body))
		}
	}
}

// excerpt is the page's main content, for failure messages.
func excerpt(body string) string {
	if i := strings.Index(body, "<main"); i >= 0 {
		body = body[i:]
	}
	if len(body) > 2000 {
		body = body[:2000]
	}
	return body
}
