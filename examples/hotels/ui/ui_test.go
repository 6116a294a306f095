package ui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestFormatBytes(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 57300: "57.3 kB", 1_200_000: "1.2 MB", 3_000_000_000: "3.0 GB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestSentence(t *testing.T) {
	t.Parallel()
	if got := Sentence("The name", "longer than 200 characters"); got != "The name is longer than 200 characters." {
		t.Errorf("got %q", got)
	}
	if got := Sentence("The address", "must not start or end with a hyphen"); got != "The address must not start or end with a hyphen." {
		t.Errorf("got %q", got)
	}
}

// A field shows its value and error, tied to the control for assistive
// technology, and never echoes a password.
func TestFieldAndLayout(t *testing.T) {
	t.Parallel()
	pages := fstest.MapFS{"p.html": {Data: []byte(`{{define "content"}}{{template "field" (.Data.Field "name" "Name" "text" | maxlen 10)}}{{template "field" (.Data.Field "pw" "Password" "password")}}{{end}}`)}}
	tmpl, err := Parse(pages, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := NewForm(nil)
	f.Set("name", `<b>"x"</b>`)
	f.Set("pw", "secret-value")
	f.Fail("name", "Too <long>.")
	rec := httptest.NewRecorder()
	tmpl.Render(rec, httptest.NewRequest(http.MethodGet, "/", nil), http.StatusUnprocessableEntity, "p", &View{Title: "T", CSRF: "tok", User: "ann@example.com", Data: f})
	body := rec.Body.String()
	for _, want := range []string{
		`<label for="f-name">Name</label>`,
		`value="&lt;b&gt;&#34;x&#34;&lt;/b&gt;"`,
		`maxlength="10"`,
		`aria-invalid="true"`,
		`aria-describedby="f-name-hint f-name-error"`,
		`id="f-name-error" aria-live="polite">Too &lt;long&gt;.</p>`,
		`name="csrf" value="tok"`, // the sign-out form
		`<link rel="stylesheet" href="/static/style.css">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s\n%s", want, body)
		}
	}
	if strings.Contains(body, "secret-value") {
		t.Error("a password field echoes its value")
	}
	if rec.Code != http.StatusUnprocessableEntity || rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Content-Security-Policy") == "" {
		t.Errorf("status %d, headers %v", rec.Code, rec.Header())
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Error("the layout refers to another site")
	}
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                   "/",
		"/tenants?q=a":       "/tenants?q=a",
		"/hotels/3?x=1":      "/hotels/3?x=1",
		"//evil.example/":    "/",
		"/\\evil.example":    "/",
		"http://evil.com":    "/",
		"https://evil.com":   "/",
		"tenants":            "/",
		"/x\r\nSet-Cookie:a": "/",
	} {
		if got := SafeNext(in); got != want {
			t.Errorf("SafeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
