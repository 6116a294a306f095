// Package web holds the reference app's JSON API: a tenant's public hotel
// directory (served on tenant hosts, with the tenant in the request
// context) and the per-tenant setting that publishes it. The benchmark
// has a handler of its own (bench/handler.go), so that changing this API
// does not change what the benchmark measures.
package web

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condohttp"
)

// Config configures the handlers. A nil *Config is valid.
type Config struct {
	// Pools, when set, runs the tenant app's reads on tenant-affine pools
	// (see [condo.TenantPools]) instead of the registry's pool.
	Pools *condo.TenantPools
	// PageSize is the number of hotels per page of the directory. Defaults
	// to 50.
	PageSize int
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

// NewTenant returns the tenant's public directory:
//
//	GET /hotels/?after=ID   a page of the tenant's hotels as JSON,
//	                        [{"id","name","city","stars"}], by id, with a
//	                        Link header (rel="next") when there may be more
//
// The directory is a per-tenant setting, off by default: a tenant that
// has not published it answers 404, as if there were no such page (see
// [SetDirectory]). Every route reads the tenant from the request context;
// the setting and the page are read in one database round trip
// ([condo.Registry.QueryTenant]).
func NewTenant(reg *condo.Registry, cfg *Config) http.Handler {
	if cfg == nil {
		cfg = &Config{}
	}
	t := &tenantApp{query: reg.QueryTenant, pageSize: cmp.Or(cfg.PageSize, 50), logger: cmp.Or(cfg.Logger, slog.Default())}
	if cfg.Pools != nil {
		t.query = cfg.Pools.QueryTenant
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hotels/", t.listHotels)
	return mux
}

type tenantApp struct {
	query    func(ctx context.Context, fn func(pgx.Rows) error, sql string, args ...any) error
	pageSize int
	logger   *slog.Logger
}

// listHotelsSQL returns one row with id 0 when the directory is off or the
// page is empty (told apart by the first column), else the page's hotels.
const listHotelsSQL = `SELECT s.public_directory, coalesce(h.id, 0), coalesce(h.name, ''), coalesce(h.city, ''), coalesce(h.stars, 0)
FROM settings s LEFT JOIN LATERAL (
	SELECT id, name, city, stars FROM hotel WHERE s.public_directory AND id > $1 ORDER BY id LIMIT $2
) h ON true`

func (a *tenantApp) listHotels(w http.ResponseWriter, r *http.Request) {
	var after int64
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			http.Error(w, "after: want a hotel id", http.StatusBadRequest)
			return
		}
		after = n
	}
	hotels := make([]Hotel, 0, 16)
	var h Hotel
	var published bool
	err := a.query(r.Context(), func(rows pgx.Rows) error {
		_, err := pgx.ForEachRow(rows, []any{&published, &h.ID, &h.Name, &h.City, &h.Stars}, func() error {
			if h.ID != 0 {
				hotels = append(hotels, h)
			}
			return nil
		})
		return err
	}, listHotelsSQL, after, a.pageSize)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !published {
		http.NotFound(w, r)
		return
	}
	if len(hotels) == a.pageSize {
		w.Header().Set("Link", "</hotels/?after="+strconv.FormatInt(hotels[len(hotels)-1].ID, 10)+`>; rel="next"`)
	}
	writeJSON(w, hotels)
}

func (a *tenantApp) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := condohttp.ErrorStatusCode(err)
	if code >= 500 && r.Context().Err() == nil {
		a.logger.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", condohttp.RequestID(r.Context())), slog.String("error", err.Error()))
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
