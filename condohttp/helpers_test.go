package condohttp_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

// env and its helpers are the root package's test helpers, for the
// edge's tests over a real registry.
type env struct {
	pool     *pgxpool.Pool
	migrator *condomigrate.Migrator
	reg      *condo.Registry
	db       *condotest.Database
}

func newEnv(t testing.TB, tenantFS fstest.MapFS, opts *condotest.DatabaseOpts) *env {
	t.Helper()
	db := condotest.NewDatabaseInfo(t, opts)
	if tenantFS == nil {
		tenantFS = condotest.HotelMigrations()
	}
	m, err := condomigrate.New(db.Pool, &condomigrate.Config{Tenant: tenantFS, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatalf("migrator: %v", err)
	}
	reg := condo.NewRegistry(db.Pool, m, &condo.RegistryConfig{Logger: condotest.Logger(t)})
	return &env{pool: db.Pool, migrator: m, reg: reg, db: db}
}

func (e *env) create(t testing.TB, slug string, domains ...string) *condo.Tenant {
	t.Helper()
	ten, err := e.reg.Create(t.Context(), condo.CreateParams{Slug: slug, Name: "Tenant " + slug, Domains: domains})
	if err != nil {
		t.Fatalf("create %s: %v", slug, err)
	}
	return ten
}

// echoHandlers answer with what the router decided, so tests can read it
// from the body: "tenant:<slug>", "public", "admin".
func echoHandlers() condohttp.Handlers {
	return condohttp.Handlers{
		Public: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "public") }),
		Tenant: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t, ok := condo.TenantFromContext(r.Context())
			if !ok {
				http.Error(w, "no tenant", 500)
				return
			}
			fmt.Fprintf(w, "tenant:%s path:%s client:%s xff:%s", t.Slug, r.URL.Path,
				condohttp.ClientAddr(r.Context()), r.Header.Get("X-Forwarded-For"))
		}),
		Reserved: map[string]http.Handler{
			"admin": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "admin") }),
		},
	}
}

type edgeOpts struct {
	resolver *condo.ResolverConfig
	server   *condohttp.ServerConfig
	// handlers, when set, are the router's instead of echoHandlers.
	handlers *condohttp.Handlers
	noStart  bool
}

type edge struct {
	env      *env
	resolver *condo.Resolver
	server   *condohttp.Server
	ts       *httptest.Server
}

// newEdge puts a Server with a Router over e's registry behind httptest.
func newEdge(t testing.TB, e *env, o *edgeOpts) *edge {
	t.Helper()
	if o == nil {
		o = &edgeOpts{}
	}
	rc := o.resolver
	if rc == nil {
		rc = &condo.ResolverConfig{}
	}
	if rc.BaseDomains == nil {
		rc.BaseDomains = []string{"example.test", "saas.localhost"}
	}
	rc.Logger = condotest.Logger(t)
	res, err := condo.NewResolver(e.reg, rc)
	if err != nil {
		t.Fatalf("NewResolver: %v", err)
	}
	if !o.noStart {
		if err := res.Start(t.Context()); err != nil {
			t.Fatalf("resolver Start: %v", err)
		}
		t.Cleanup(func() { _ = res.Stop(context.Background()) })
	}
	sc := o.server
	if sc == nil {
		sc = &condohttp.ServerConfig{}
	}
	if sc.Handler == nil {
		h := echoHandlers()
		if o.handlers != nil {
			h = *o.handlers
		}
		sc.Handler = condohttp.NewRouter(res, h)
	}
	sc.Resolver = res
	if sc.Logger == nil {
		sc.Logger = condotest.Logger(t)
	}
	srv, err := condohttp.NewServer(sc)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &edge{env: e, resolver: res, server: srv, ts: ts}
}

// get sends GET path with the Host header host and returns status and body.
func (ed *edge) get(t testing.TB, host, path string, hdr map[string]string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", ed.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := ed.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// rawGet sends a request with a Host header the Go client would refuse to
// send, over a plain TCP connection, and returns the status code.
func (ed *edge) rawGet(t testing.TB, host string) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(ed.ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("raw GET Host %q: %v", host, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
