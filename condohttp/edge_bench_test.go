package condohttp_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/condo-dev/condo/condohttp"
)

// BenchmarkServerRouter measures the edge's hot path in process: a request
// through the Server's layer (forwarding headers, request id, security
// headers, access log off) and the Router to a tenant whose host is in the
// resolver's cache (preloaded by Start), without a network round trip.
func BenchmarkServerRouter(b *testing.B) {
	e := newEnv(b, nil, nil)
	e.create(b, "acme")
	for _, tc := range []struct {
		name    string
		host    string
		metrics bool
	}{
		{"tenant", "acme.example.test", false},
		{"tenant+metrics", "acme.example.test", true},
		{"unknown", "nobody.example.test", false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			sc := &condohttp.ServerConfig{DisableAccessLog: true}
			if tc.metrics {
				sc.Metrics = condohttp.NewMetrics(nil)
			}
			ed := newEdge(b, e, &edgeOpts{server: sc})
			req := httptest.NewRequest(http.MethodGet, "http://"+tc.host+"/x", nil)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				ed.server.ServeHTTP(w, req)
				if w.Code != http.StatusOK && w.Code != http.StatusNotFound {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}

// BenchmarkMiddleware measures condohttp.Middleware alone (no Server) for
// a cached tenant host.
func BenchmarkMiddleware(b *testing.B) {
	e := newEnv(b, nil, nil)
	e.create(b, "acme")
	ed := newEdge(b, e, nil)
	h := condohttp.Middleware(ed.resolver)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	req := httptest.NewRequest(http.MethodGet, "http://acme.example.test/x", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}
