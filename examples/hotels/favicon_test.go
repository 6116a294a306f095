package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Every site serves the app's icon at /favicon.ico (browsers ask for it
// on every host), and every page names it.
func TestFavicon(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, nil)
	ta.tenant("acme", "owner@acme.test")
	c := ta.client()
	for _, label := range []string{"", "admin", "acme"} {
		resp, err := c.c.Get(ta.url(label, "/favicon.ico"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(string(b), "<svg") {
			t.Errorf("%q: /favicon.ico: got %d %q %.20q, want 200 image/svg+xml <svg…", label, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	}
	p := c.get(ta.url("", "/"))
	if !strings.Contains(p.Body, `<link rel="icon" href="/favicon.ico"`) {
		t.Errorf("the landing page names no icon:\n%s", p.Body)
	}
}
