package condohttp

import (
	"cmp"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/condo-dev/condo"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricsConfig configures [NewMetrics]. A nil *MetricsConfig is valid.
type MetricsConfig struct {
	// Registry receives the collectors. Defaults to a new registry that
	// also has the Go runtime and process collectors (never the global
	// prometheus.DefaultRegisterer).
	Registry *prometheus.Registry
	// TenantLimit is how many tenants get series of their own in
	// condo_tenant_requests_total; requests of tenants beyond it count under
	// tenant="_other". Defaults to 100. The first tenants seen get the
	// series, so the cardinality is bounded whatever the traffic.
	TenantLimit int
	// Buckets are the latency histogram's, in seconds. Defaults to 0.5 ms
	// to 10 s.
	Buckets []float64
}

// Metrics are the server's Prometheus metrics. Every label has a bounded
// set of values: route kinds, handler patterns written in code, methods
// from a fixed list (else "other"), status codes, and at most TenantLimit
// tenants.
//
//   - condo_http_requests_total{route,handler,method,code}
//   - condo_http_request_duration_seconds{route,handler} (histogram)
//   - condo_http_requests_in_flight
//   - condo_tenant_requests_total{tenant,class} (class is 2xx, 3xx, 4xx, 5xx)
//   - condo_resolver_* (cache hits, misses, queries, entries,
//     notifications, reconnects, listening), once [Metrics.AddResolver]
//     was called.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
	tenants  *prometheus.CounterVec

	limit int
	mu    sync.RWMutex
	seen  map[string]struct{}
}

// NewMetrics creates the collectors and registers them. It panics if they
// are already registered in cfg.Registry (a programmer error).
func NewMetrics(cfg *MetricsConfig) *Metrics {
	if cfg == nil {
		cfg = &MetricsConfig{}
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	buckets := cfg.Buckets
	if buckets == nil {
		buckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	}
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "condo_http_requests_total",
			Help: "HTTP requests served, by route kind, handler pattern, method and status code.",
		}, []string{"route", "handler", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "condo_http_request_duration_seconds",
			Help:    "Time to serve HTTP requests, by route kind and handler pattern.",
			Buckets: buckets,
		}, []string{"route", "handler"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "condo_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
		tenants: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "condo_tenant_requests_total",
			Help: "HTTP requests per tenant (the first TenantLimit tenants seen; the rest as _other), by status class.",
		}, []string{"tenant", "class"}),
		limit: cmp.Or(cfg.TenantLimit, 100),
		seen:  map[string]struct{}{},
	}
	reg.MustRegister(m.requests, m.duration, m.inflight, m.tenants)
	return m
}

// Registry returns the registry the metrics are in, for adding more.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// AddResolver exports the resolver's cache and listener figures.
func (m *Metrics) AddResolver(r *condo.Resolver) {
	counter := func(name, help string, f func(condo.ResolverStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f(r.Stats())) })
	}
	m.reg.MustRegister(
		counter("condo_resolver_cache_hits_total", "Host lookups answered from the cache.", func(s condo.ResolverStats) uint64 { return s.Hits }),
		counter("condo_resolver_cache_misses_total", "Host lookups not answered from the cache.", func(s condo.ResolverStats) uint64 { return s.Misses }),
		counter("condo_resolver_queries_total", "Registry queries made by host lookups.", func(s condo.ResolverStats) uint64 { return s.Queries }),
		counter("condo_resolver_notifications_total", "Registry change notifications received.", func(s condo.ResolverStats) uint64 { return s.Notifications }),
		counter("condo_resolver_reconnects_total", "Times the change listener reconnected.", func(s condo.ResolverStats) uint64 { return s.Reconnects }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "condo_resolver_cache_entries", Help: "Hosts in the resolver cache, found or not."},
			func() float64 { return float64(r.Stats().Entries) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "condo_resolver_listening", Help: "1 when the change listener is connected (the cache is in use)."},
			func() float64 {
				if r.Listening() {
					return 1
				}
				return 0
			}),
	)
}

func (m *Metrics) observe(route, handler, method string, status int, tenant string, d time.Duration) {
	if handler == "" {
		handler = "other"
	}
	m.requests.WithLabelValues(route, handler, methodLabel(method), codeLabel(status)).Inc()
	m.duration.WithLabelValues(route, handler).Observe(d.Seconds())
	if tenant != "" {
		m.tenants.WithLabelValues(m.tenantLabel(tenant), classLabel(status)).Inc()
	}
}

func (m *Metrics) tenantLabel(slug string) string {
	m.mu.RLock()
	_, ok := m.seen[slug]
	n := len(m.seen)
	m.mu.RUnlock()
	if ok {
		return slug
	}
	if n >= m.limit {
		return "_other"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.seen[slug]; ok || len(m.seen) < m.limit {
		m.seen[slug] = struct{}{}
		return slug
	}
	return "_other"
}

func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

func codeLabel(c int) string {
	switch c {
	case 200:
		return "200"
	case 201:
		return "201"
	case 204:
		return "204"
	case 301:
		return "301"
	case 302:
		return "302"
	case 304:
		return "304"
	case 308:
		return "308"
	case 400:
		return "400"
	case 403:
		return "403"
	case 404:
		return "404"
	case 500:
		return "500"
	case 503:
		return "503"
	}
	if c < 100 || c > 999 {
		return "other"
	}
	return strconv.Itoa(c)
}

func classLabel(c int) string {
	switch c / 100 {
	case 1:
		return "1xx"
	case 2:
		return "2xx"
	case 3:
		return "3xx"
	case 4:
		return "4xx"
	}
	return "5xx"
}
