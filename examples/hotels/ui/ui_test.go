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

// SafeNext is judged as the WHATWG URL parser (a browser following
// Location) reads the value: each bypass form below is a way to reach
// another host, or to split the header, that a prefix blacklist missed.
func TestSafeNext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "/"},
		{"path and query", "/tenants?q=a", "/tenants?q=a"},
		{"hotel", "/hotels/3?x=1", "/hotels/3?x=1"},
		{"escaped tab stays a path", "/%09/evil.com", "/%09/evil.com"},
		{"backslash inside a path", "/a\\b", "/a/b"},
		{"surrounding spaces", "  /members ", "/members"},
		{"protocol-relative", "//evil.example/", "/"},
		{"backslash host", "/\\evil.example", "/"},
		{"two backslashes", "\\\\evil.example", "/"},
		{"backslash slash", "\\/evil.example", "/"},
		{"tab between slashes", "/\t/evil.com", "/"},
		{"newline between slashes", "/\n/evil.com", "/"},
		{"carriage return between slashes", "/\r/evil.com", "/"},
		{"tab then backslash", "/\t\\evil.com", "/"},
		{"leading space", " //evil.com", "/"},
		{"leading C0", "\x01//evil.com", "/"},
		{"leading NUL", "\x00//evil.com", "/"},
		{"trailing C0 after host", "//evil.com\x1f", "/"},
		{"absolute http", "http://evil.com", "/"},
		{"absolute https", "https://evil.com", "/"},
		{"scheme with tab", "ht\ttp://evil.com", "/"},
		{"javascript", "javascript:alert(1)", "/"},
		{"javascript with newline", "java\nscript:alert(1)", "/"},
		{"relative", "tenants", "/"},
		{"header splitting", "/x\r\nSet-Cookie:a", "/xSet-Cookie:a"},
		{"other control inside", "/x\x00y", "/"},
		{"DEL inside", "/x\x7fy", "/"},
		{"invalid UTF-8", "/x\xffy", "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := SafeNext(tc.in)
			if got != tc.want {
				t.Errorf("SafeNext(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if strings.ContainsAny(got, "\t\r\n\\") || strings.HasPrefix(got, "//") {
				t.Errorf("SafeNext(%q) = %q: a browser could leave the host", tc.in, got)
			}
		})
	}
}
