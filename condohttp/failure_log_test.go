package condohttp_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condotest"
)

// failingApp is a tenant handler that answers a failed query with its
// status and logs nothing, as many handlers do: "/fail" divides by zero
// in the tenant's transaction (500), anything else answers 200.
func failingApp(e *env) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/fail" {
			_, _ = w.Write([]byte("ok"))
			return
		}
		err := e.reg.QueryTenant(r.Context(), func(rows pgx.Rows) error {
			rows.Close()
			return rows.Err()
		}, "SELECT 1/0")
		code := condohttp.ErrorStatusCode(err)
		http.Error(w, http.StatusText(code), code)
	})
}

// logRecords are the JSON log lines with message msg.
func logRecords(t *testing.T, b *condotest.Buffer, msg string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for line := range strings.Lines(b.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == msg {
			recs = append(recs, rec)
		}
	}
	return recs
}

// TestFailedRequestsLoggedWithoutAccessLog: with the access log off, a
// 5xx used to leave no line at all (W5 at scale saw non-2xx responses and
// an empty log); the server now logs failed responses at Warn, one line a
// second counting the failures, and still nothing for 2xx and 4xx.
func TestFailedRequestsLoggedWithoutAccessLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	e.create(t, "acme")
	var logs condotest.Buffer
	ed := newEdge(t, e, &edgeOpts{handlers: &condohttp.Handlers{Tenant: failingApp(e)}, server: &condohttp.ServerConfig{
		DisableAccessLog: true,
		Logger:           slog.New(slog.NewJSONHandler(&logs, nil)),
	}})

	if code, _, _ := ed.get(t, "acme.example.test", "/", nil); code != http.StatusOK {
		t.Fatalf("GET /: %d, want 200", code)
	}
	if code, _, _ := ed.get(t, "nobody.example.test", "/", nil); code != http.StatusNotFound {
		t.Fatalf("unknown host: %d, want 404", code)
	}
	if n := len(logRecords(t, &logs, "http request failed")); n != 0 {
		t.Fatalf("200 and 404 logged %d failure lines:\n%s", n, logs.String())
	}
	start := time.Now()
	const n = 30
	for i := range n {
		if code, _, _ := ed.get(t, "acme.example.test", "/fail", nil); code != http.StatusInternalServerError {
			t.Fatalf("GET /fail %d: %d, want 500", i, code)
		}
	}
	elapsed := time.Since(start)
	recs := logRecords(t, &logs, "http request failed")
	if len(recs) < 1 || len(recs) > 1+int(elapsed/time.Second) {
		t.Fatalf("%d failures in %v logged %d lines, want 1 a second:\n%s", n, elapsed, len(recs), logs.String())
	}
	first := recs[0]
	for k, want := range map[string]any{"level": "WARN", "status": float64(500), "tenant": "acme", "path": "/fail", "route": "tenant", "failures": float64(1)} {
		if first[k] != want {
			t.Errorf("first failure line: %s = %v, want %v: %v", k, first[k], want, first)
		}
	}
	if first["request_id"] == nil || first["request_id"] == "" {
		t.Errorf("first failure line lacks the request id: %v", first)
	}
	if len(logRecords(t, &logs, "http request")) != 0 {
		t.Errorf("access log lines with the access log off:\n%s", logs.String())
	}
}

// TestAccessLogWarnsOnFailure: with the access log on, a failed
// response's line is at Warn, so a log kept at Warn still shows it.
func TestAccessLogWarnsOnFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	e.create(t, "acme")
	var logs condotest.Buffer
	ed := newEdge(t, e, &edgeOpts{handlers: &condohttp.Handlers{Tenant: failingApp(e)}, server: &condohttp.ServerConfig{
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}})
	ed.get(t, "acme.example.test", "/", nil)
	ed.get(t, "acme.example.test", "/fail", nil)
	recs := logRecords(t, &logs, "http request")
	if len(recs) != 1 || recs[0]["status"] != float64(500) || recs[0]["level"] != "WARN" {
		t.Fatalf("want one access log line at WARN for the 500, got:\n%s", logs.String())
	}
}
