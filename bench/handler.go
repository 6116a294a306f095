package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo/condohttp"
)

// The handlers under test. They belong to the benchmark, not to the
// reference app: W3 and W6 must measure the same handler from one run to
// the next, whatever the app's JSON API becomes. The tenant handler runs
// the query the app's directory runs (one round trip: the tenant's
// setting and a page of hotels), so the numbers stay comparable with the
// earlier ones in BENCHMARKS.md.

// hotel is one row of GET /hotels/.
type hotel struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	City  string `json:"city"`
	Stars int16  `json:"stars"`
}

// queryFunc is [condo.Registry.QueryTenant] or [condo.TenantPools.QueryTenant].
type queryFunc func(ctx context.Context, fn func(pgx.Rows) error, sql string, args ...any) error

// listHotelsSQL returns one row with id 0 when the directory is off or the
// page is empty (told apart by the first column), else the page's hotels.
const listHotelsSQL = `SELECT s.public_directory, coalesce(h.id, 0), coalesce(h.name, ''), coalesce(h.city, ''), coalesce(h.stars, 0)
FROM settings s LEFT JOIN LATERAL (
	SELECT id, name, city, stars FROM hotel WHERE s.public_directory AND id > $1 ORDER BY id LIMIT $2
) h ON true`

// pageSize is the app directory's page: every seeded tenant's ten hotels
// fit in one.
const pageSize = 50

// tenantHandler is W3: GET /hotels/, the Host's tenant's hotels as JSON,
// through the tenant middleware and a per-transaction schema switch.
func tenantHandler(query queryFunc, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hotels/", func(w http.ResponseWriter, r *http.Request) {
		var after int64
		if v := r.URL.Query().Get("after"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				http.Error(w, "after: want a hotel id", http.StatusBadRequest)
				return
			}
			after = n
		}
		hotels := make([]hotel, 0, 16)
		var h hotel
		var published bool
		err := query(r.Context(), func(rows pgx.Rows) error {
			_, err := pgx.ForEachRow(rows, []any{&published, &h.ID, &h.Name, &h.City, &h.Stars}, func() error {
				if h.ID != 0 {
					hotels = append(hotels, h)
				}
				return nil
			})
			return err
		}, listHotelsSQL, after, pageSize)
		if err != nil {
			code := condohttp.ErrorStatusCode(err)
			if r.Context().Err() != nil {
				// The client went away (wrk closing its connections at the
				// end of a run): nginx's 499, so that the server's metrics
				// do not count these as the server's failures.
				code = 499
			}
			if code >= 500 {
				logger.LogAttrs(r.Context(), slog.LevelError, "request failed",
					slog.String("request_id", condohttp.RequestID(r.Context())), slog.String("error", err.Error()))
			}
			http.Error(w, http.StatusText(code), code)
			return
		}
		if !published {
			http.NotFound(w, r)
			return
		}
		if len(hotels) == pageSize {
			w.Header().Set("Link", "</hotels/?after="+strconv.FormatInt(hotels[len(hotels)-1].ID, 10)+`>; rel="next"`)
		}
		writeJSON(w, hotels)
	})
	return mux
}

// plainHandler is W6: GET /hotels/ with the same encoding as W3, on one
// schema, without tenant middleware or schema switch.
func plainHandler(pool *pgxpool.Pool, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hotels/", func(w http.ResponseWriter, r *http.Request) {
		hotels := make([]hotel, 0, 16)
		var h hotel
		rows, err := pool.Query(r.Context(), "SELECT id, name, city, stars FROM single.hotel ORDER BY id")
		if err == nil {
			_, err = pgx.ForEachRow(rows, []any{&h.ID, &h.Name, &h.City, &h.Stars}, func() error {
				hotels = append(hotels, h)
				return nil
			})
		}
		if err != nil {
			logger.Error("query", "error", err)
			http.Error(w, "Internal Server Error", 500)
			return
		}
		writeJSON(w, hotels)
	})
	return mux
}

// staticHotels are what a W3 response holds, for the ceiling servers.
func staticHotels() []hotel {
	hotels := make([]hotel, 10)
	for i := range hotels {
		hotels[i] = hotel{ID: int64(i + 1), Name: "t0001 Hotel " + strconv.Itoa(i+1), City: "Lisbon", Stars: int16(1 + i%5)}
	}
	return hotels
}

// staticHandler is W6 without the database: the same JSON encoding of
// ten hotels per request, behind the same condohttp.Server edge.
func staticHandler() http.Handler {
	hotels := staticHotels()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, hotels)
	})
}

// serveBare is the HTTP ceiling: a bare net/http server writing the same
// response bytes, with no edge, no logging, no encoding and no database.
func serveBare(ctx context.Context, addr string) error {
	b, _ := json.Marshal(staticHotels())
	body := append(b, '\n')
	srv := &http.Server{
		Addr:              addr,
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		}),
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
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
