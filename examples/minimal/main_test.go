package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/condo-dev/condo/condotest"
)

func TestMain(m *testing.M) { condotest.Main(m) }

// TestMinimal serves two tenants from a real database: each host sees its
// own schema, a note written to one is not in the other, and an unknown
// host is refused.
func TestMinimal(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, db.URL, ln, []string{"acme", "globex"}) }()
	// Requests wait in the listen backlog until run serves: no polling.
	client := &http.Client{Timeout: 60 * time.Second}
	do := func(method, host, path string, body io.Reader) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+ln.Addr().String()+path, body)
		req.Host = host
		if body != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s%s: %v", method, host, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tt := range []struct{ host, want string }{
		{"acme.localhost", "acme: 0 note(s)\n"},
		{"globex.localhost:8080", "globex: 0 note(s)\n"},
	} {
		if status, body := do("GET", tt.host, "/", nil); status != 200 || body != tt.want {
			t.Errorf("GET %s: got %d %q, want 200 %q", tt.host, status, body, tt.want)
		}
	}
	form := strings.NewReader(url.Values{"body": {"hello"}}.Encode())
	if status, body := do("POST", "acme.localhost", "/", form); status != http.StatusOK || body != "acme: 1 note(s)\n" {
		t.Fatalf("POST acme note: got %d %q, want 200 and one note", status, body)
	}
	if _, body := do("GET", "acme.localhost", "/", nil); body != "acme: 1 note(s)\n" {
		t.Errorf("acme after its note: got %q", body)
	}
	if _, body := do("GET", "globex.localhost", "/", nil); body != "globex: 0 note(s)\n" {
		t.Errorf("globex after acme's note: got %q, want its own empty schema", body)
	}
	for _, host := range []string{"nobody.localhost", "localhost", "evil.example.com"} {
		if status, body := do("GET", host, "/", nil); status != http.StatusNotFound || strings.Contains(body, "note(s)") {
			t.Errorf("GET %s: got %d %q, want 404 without a tenant", host, status, body)
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
}
