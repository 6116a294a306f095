package main

import (
	"encoding/json"
	"net/http"
	"testing"
)

// The JSON API of package web stays: GET /hotels/ on a tenant host lists
// that tenant's hotels, and only them, without a session (a public
// catalogue), while the HTML pages need a member.
func TestJSONAPI(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, nil)
	ta.tenant("acme", "ann@acme.example", "Acme One", "Acme Two")
	ta.tenant("globex", "gus@globex.example", "Globex One")
	c := ta.client()
	for slug, want := range map[string][]string{"acme": {"Acme One", "Acme Two"}, "globex": {"Globex One"}} {
		resp, err := c.c.Get(ta.url(slug, "/hotels/"))
		if err != nil {
			t.Fatal(err)
		}
		var hotels []struct {
			ID    int64
			Name  string
			City  string
			Stars int
		}
		err = json.NewDecoder(resp.Body).Decode(&hotels)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d, %v", slug, resp.StatusCode, err)
		}
		if len(hotels) != len(want) {
			t.Fatalf("%s: %d hotels, want %d: %+v", slug, len(hotels), len(want), hotels)
		}
		for i, h := range hotels {
			if h.Name != want[i] || h.City != "Testville" || h.Stars != 3 {
				t.Fatalf("%s: hotel %d = %+v, want %s", slug, i, h, want[i])
			}
		}
	}
	if p := c.get(ta.url("acme", "/")); p.URL.Path != "/login" {
		t.Fatalf("the HTML list without a session: on %s, want /login", p.URL)
	}
}
