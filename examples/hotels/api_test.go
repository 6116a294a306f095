package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/condo-dev/condo/examples/hotels/accounts"
)

type apiHotel struct {
	ID    int64
	Name  string
	City  string
	Stars int
}

// getHotels reads GET /hotels/ (path and query) on slug's host: the
// status, the hotels and the Link header.
func getHotels(t *testing.T, ta *testApp, c *client, slug, pathQuery string) (int, []apiHotel, string) {
	t.Helper()
	resp, err := c.c.Get(ta.url(slug, pathQuery))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var hotels []apiHotel
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&hotels); err != nil {
			t.Fatalf("%s%s: %v", slug, pathQuery, err)
		}
	}
	return resp.StatusCode, hotels, resp.Header.Get("Link")
}

// The JSON directory of package web: GET /hotels/ on a tenant host is 404
// until the tenant publishes it (off by default: it was public for every
// tenant), then lists that tenant's hotels only, without a session, a page
// at a time. The owner switches it on the Settings page (members cannot),
// the CLI with "directory on|off SLUG".
func TestJSONAPI(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, nil)
	ta.tenant("acme", "ann@acme.example", "Acme One", "Acme Two")
	ta.tenant("globex", "gus@globex.example", "Globex One")
	c := ta.client()
	for _, slug := range []string{"acme", "globex"} {
		if status, hotels, _ := getHotels(t, ta, c, slug, "/hotels/"); status != http.StatusNotFound {
			t.Fatalf("%s before publishing: %d %v, want 404", slug, status, hotels)
		}
	}

	// The CLI publishes acme's, only acme's.
	if out, err := ta.run("directory", "on", "acme"); err != nil || !strings.Contains(out, "directory of acme: on") {
		t.Fatalf("directory on acme: %q, %v", out, err)
	}
	if _, err := ta.run("directory", "on", "nobody"); err == nil || !strings.Contains(err.Error(), `no tenant "nobody"`) {
		t.Fatalf("directory on nobody: %v", err)
	}
	if _, err := ta.run("directory", "maybe", "acme"); err == nil {
		t.Fatal("directory maybe: no error")
	}
	status, hotels, _ := getHotels(t, ta, c, "acme", "/hotels/")
	if status != http.StatusOK || len(hotels) != 2 || hotels[0].Name != "Acme One" || hotels[1].Name != "Acme Two" || hotels[0].City != "Testville" || hotels[0].Stars != 3 {
		t.Fatalf("acme published: %d %+v", status, hotels)
	}
	if status, _, _ := getHotels(t, ta, c, "globex", "/hotels/"); status != http.StatusNotFound {
		t.Fatalf("globex after publishing acme: %d, want 404", status)
	}
	if status, _, _ := getHotels(t, ta, c, "acme", "/hotels/?after=x"); status != http.StatusBadRequest {
		t.Fatalf("after=x: %d, want 400", status)
	}

	// Pages of 50, by id, with a Link to the next.
	names := make([]string, 55)
	for i := range names {
		names[i] = fmt.Sprintf("Big %02d", i)
	}
	ta.tenant("big", "bo@big.example", names...)
	ta.directory("big", true)
	status, page1, link := getHotels(t, ta, c, "big", "/hotels/")
	if status != http.StatusOK || len(page1) != 50 || page1[0].Name != "Big 00" || !strings.HasPrefix(link, "</hotels/?after=") {
		t.Fatalf("big, page 1: %d, %d hotels, Link %q", status, len(page1), link)
	}
	next := strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
	status, page2, link := getHotels(t, ta, c, "big", next)
	if status != http.StatusOK || len(page2) != 5 || page2[0].Name != "Big 50" || link != "" {
		t.Fatalf("big, page 2 (%s): %d, %+v, Link %q", next, status, page2, link)
	}

	// The owner publishes globex's on the Settings page; a member cannot.
	gus := ta.client()
	gus.login("globex", "gus@globex.example", testPassword)
	want(t, gus.get(ta.url("globex", "/settings")), http.StatusOK, "only members of this workspace see it", "Publish the hotel list")
	p := gus.submit(ta.url("globex", "/settings"), ta.url("globex", "/settings/directory"), url.Values{"directory": {"on"}})
	want(t, p, http.StatusOK, "The hotel list is now public", "anyone can read it", "Make the hotel list private")
	if status, hotels, _ := getHotels(t, ta, c, "globex", "/hotels/"); status != http.StatusOK || len(hotels) != 1 {
		t.Fatalf("globex published by its owner: %d %+v", status, hotels)
	}
	u, err := ta.app.store.CreateUserTx(t.Context(), ta.app.store.Pool(), "max@globex.example", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	tn, _ := ta.env.Registry.Get(t.Context(), "globex")
	if err := ta.app.store.AddMemberTx(t.Context(), ta.app.store.Pool(), u.ID, tn.ID, accounts.RoleMember); err != nil {
		t.Fatal(err)
	}
	member := ta.client()
	member.login("globex", "max@globex.example", testPassword)
	want(t, member.get(ta.url("globex", "/settings")), http.StatusOK, "Only owners can change this")
	want(t, member.submit(ta.url("globex", "/settings"), ta.url("globex", "/settings/directory"), url.Values{"directory": {"off"}}), http.StatusForbidden)
	if status, _, _ := getHotels(t, ta, c, "globex", "/hotels/"); status != http.StatusOK {
		t.Fatalf("globex after a member's try: %d, want still 200", status)
	}

	// And the CLI withdraws it.
	if out, err := ta.run("directory", "off", "acme"); err != nil || !strings.Contains(out, "directory of acme: off") {
		t.Fatalf("directory off acme: %q, %v", out, err)
	}
	if status, _, _ := getHotels(t, ta, c, "acme", "/hotels/"); status != http.StatusNotFound {
		t.Fatalf("acme withdrawn: %d, want 404", status)
	}
	if p := c.get(ta.url("acme", "/")); p.URL.Path != "/login" {
		t.Fatalf("the HTML list without a session: on %s, want /login", p.URL)
	}
}
