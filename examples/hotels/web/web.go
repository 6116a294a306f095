// Package web holds the reference app's HTTP handlers: the tenant app
// (served on tenant hosts, with the tenant in the request context) and the
// public site (served on the base domains).
package web

import (
	"cmp"
	"context"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
)

// Config configures the handlers. A nil *Config is valid.
type Config struct {
	// SiteName is shown on the public site. Defaults to "Hotels".
	SiteName string
	// Pools, when set, runs the tenant app's reads on tenant-affine pools
	// (see [condo.TenantPools]) instead of the registry's pool.
	Pools *condo.TenantPools
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Hotel is one row of GET /hotels/.
type Hotel struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	City  string `json:"city"`
	Stars int16  `json:"stars"`
}

// Handlers returns the reference app's handlers for [condo.Resolver.Router].
func Handlers(reg *condo.Registry, cfg *Config) condo.Handlers {
	return condo.Handlers{Public: NewPublic(cfg), Tenant: NewTenant(reg, cfg)}
}

// NewTenant returns the tenant app:
//
//	GET /hotels/   the tenant's hotels as JSON: [{"id","name","city","stars"}]
//
// Every route reads the tenant from the request context; the whole read is
// one database round trip ([condo.Registry.QueryTenant]).
func NewTenant(reg *condo.Registry, cfg *Config) http.Handler {
	if cfg == nil {
		cfg = &Config{}
	}
	t := &tenantApp{query: reg.QueryTenant, logger: cmp.Or(cfg.Logger, slog.Default())}
	if cfg.Pools != nil {
		t.query = cfg.Pools.QueryTenant
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hotels/", t.listHotels)
	return mux
}

type tenantApp struct {
	query  func(ctx context.Context, fn func(pgx.Rows) error, sql string, args ...any) error
	logger *slog.Logger
}

const listHotelsSQL = "SELECT id, name, city, stars FROM hotel ORDER BY id"

func (a *tenantApp) listHotels(w http.ResponseWriter, r *http.Request) {
	hotels := make([]Hotel, 0, 16)
	var h Hotel
	err := a.query(r.Context(), func(rows pgx.Rows) error {
		_, err := pgx.ForEachRow(rows, []any{&h.ID, &h.Name, &h.City, &h.Stars}, func() error {
			hotels = append(hotels, h)
			return nil
		})
		return err
	}, listHotelsSQL)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, hotels)
}

func (a *tenantApp) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := condo.ErrorStatusCode(err)
	if code >= 500 && r.Context().Err() == nil {
		a.logger.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", condo.RequestID(r.Context())), slog.String("error", err.Error()))
	}
	http.Error(w, http.StatusText(code), code)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}

// NewPublic returns the public site: a landing page at "/", 404 elsewhere.
func NewPublic(cfg *Config) http.Handler {
	if cfg == nil {
		cfg = &Config{}
	}
	name := cmp.Or(cfg.SiteName, "Hotels")
	page := template.Must(template.New("landing").Parse(landingHTML))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, map[string]string{"Name": name})
	})
	return mux
}

const landingHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Name}}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:10vh auto;padding:0 1rem;color:#222}</style>
</head><body>
<h1>{{.Name}}</h1>
<p>Hotel management for every hotel group: your own subdomain, your own data, nobody else's.</p>
</body></html>
`
