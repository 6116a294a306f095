package ui

import (
	"bytes"
	"cmp"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/condo-dev/condo/condohttp"
)

//go:embed templates/*.html pages/*.html static/*
var files embed.FS

// Static returns a handler serving the shared assets under /static/ (the
// prefix is stripped). They are embedded and change only with the binary,
// so they are cached for a day.
func Static() http.Handler {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // embedded at build time
	}
	fsrv := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		fsrv.ServeHTTP(w, r)
	})
}

// NavItem is a link in the page header.
type NavItem struct {
	Label string
	Href  string
	// Current marks the page the user is on (aria-current).
	Current bool
}

// View is what every page is rendered with.
type View struct {
	// Title is the page's title, shown in the tab and as its heading.
	Title string
	// Site is the name shown in the header: the product, the tenant, or
	// "Platform admin".
	Site string
	// Home is the header's home link. Defaults to "/".
	Home string
	// Nav are the header's links.
	Nav []NavItem
	// User is who is signed in ("" for nobody): the header then shows a
	// sign-out button.
	User string
	// CSRF is the token every form on the page sends back.
	CSRF string
	// Flash is a one-time message from the previous request.
	Flash string
	// Scripts are extra scripts under /static/ (progressive enhancement
	// only: every page works without them).
	Scripts []string
	// Data is the page's own data.
	Data any
}

// Templates are a site's pages, each inside the common layout.
type Templates struct {
	pages  map[string]*template.Template
	logger *slog.Logger
}

// Funcs are the template functions every page may use, besides those of
// html/template.
func Funcs() template.FuncMap {
	return template.FuncMap{
		"add":      func(a, b int) int { return a + b },
		"maxlen":   func(n int, f Field) Field { f.MaxLen = n; return f },
		"hint":     func(h string, f Field) Field { f.Hint = h; return f },
		"auto":     func(a string, f Field) Field { f.Autocomplete = a; return f },
		"optional": func(f Field) Field { f.Optional = true; return f },
		"between":  func(lo, hi int, f Field) Field { f.Min, f.Max = lo, hi; f.HasRange = true; return f },
		"date":     func(t *time.Time) string { return formatDate(t) },
		"bytes":    FormatBytes,
		"plural": func(n int64, one, many string) string {
			if n == 1 {
				return one
			}
			return many
		},
		"query": func(pairs ...any) template.URL {
			// query "q" .Q "page" 2 → "?q=...&page=2", leaving out empty values.
			v := url.Values{}
			for i := 0; i+1 < len(pairs); i += 2 {
				s := fmt.Sprint(pairs[i+1])
				if s != "" && s != "0" {
					v.Set(fmt.Sprint(pairs[i]), s)
				}
			}
			if len(v) == 0 {
				return "?"
			}
			return template.URL("?" + v.Encode())
		},
	}
}

// Parse builds a [Templates] from the *.html files at the top of fsys.
// Each file is a page: it defines "content" (and may define others) and is
// rendered inside the layout. funcs may add template functions.
func Parse(fsys fs.FS, funcs template.FuncMap, logger *slog.Logger) (*Templates, error) {
	base := template.New("layout").Funcs(Funcs()).Funcs(funcs)
	base, err := base.ParseFS(files, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse layout: %w", err)
	}
	t := &Templates{pages: map[string]*template.Template{}, logger: cmp.Or(logger, slog.Default())}
	// The common pages (the error page) first; a site's own page of the
	// same name replaces one.
	own, err := fs.Sub(files, "pages")
	if err != nil {
		return nil, err
	}
	for _, src := range []fs.FS{own, fsys} {
		names, err := fs.Glob(src, "*.html")
		if err != nil {
			return nil, fmt.Errorf("list pages: %w", err)
		}
		for _, name := range names {
			b, err := fs.ReadFile(src, name)
			if err != nil {
				return nil, fmt.Errorf("read page %s: %w", name, err)
			}
			clone, err := base.Clone()
			if err != nil {
				return nil, err
			}
			if _, err := clone.New(name).Parse(string(b)); err != nil {
				return nil, fmt.Errorf("parse page %s: %w", name, err)
			}
			t.pages[strings.TrimSuffix(path.Base(name), ".html")] = clone
		}
	}
	return t, nil
}

// Render writes page (a file name without ".html") with status. It sets
// no-store caching, since pages carry CSRF tokens and private data.
func (t *Templates) Render(w http.ResponseWriter, r *http.Request, status int, page string, v *View) {
	tmpl := t.pages[page]
	if tmpl == nil {
		t.logger.LogAttrs(r.Context(), slog.LevelError, "render: no such page", slog.String("page", page))
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	if v.Home == "" {
		v.Home = "/"
	}
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "layout", v); err != nil {
		t.logger.LogAttrs(r.Context(), slog.LevelError, "render", slog.String("page", page), slog.String("error", err.Error()))
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	// The pages load nothing from elsewhere and need no inline script.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// ErrorData is the data of the common error page.
type ErrorData struct {
	Message string
	// Link, when set, is offered as the way on ("Back to the hotels").
	Link, LinkLabel string
	// Logout shows a sign-out button (a signed-in user without access).
	Logout bool
}

// Error renders the common error page: the status, a title and a message
// for the user (never an internal error).
func (t *Templates) Error(w http.ResponseWriter, r *http.Request, status int, v *View, title, message string) {
	v.Title = title
	if v.Data == nil {
		v.Data = ErrorData{Message: message}
	} else if d, ok := v.Data.(ErrorData); ok && d.Message == "" {
		d.Message = message
		v.Data = d
	}
	t.Render(w, r, status, "error", v)
}

// Field is one labelled form control, as the "field" template draws it.
type Field struct {
	Name, Label, Type string
	Value, Error      string
	// OK is a success note ("acme is available"), shown when there is no
	// error.
	OK           string
	Hint         string
	Autocomplete string
	MaxLen       int
	Min, Max     int
	HasRange     bool
	Optional     bool
	// Options are the choices of a "select" field (value → label, in
	// order).
	Options []Option
}

// Option is one choice of a select field.
type Option struct{ Value, Label string }

// Form is a submitted (or blank) form: values and an error per field.
type Form struct {
	Values url.Values
	Errors map[string]string
	// Notes are success notes per field.
	Notes map[string]string
	// Message is an error about the whole form ("Wrong e-mail or
	// password").
	Message string
}

// NewForm returns a form holding values (nil for a blank form).
func NewForm(values url.Values) *Form {
	if values == nil {
		values = url.Values{}
	}
	return &Form{Values: values, Errors: map[string]string{}, Notes: map[string]string{}}
}

// Get returns the trimmed value of a field.
func (f *Form) Get(name string) string { return strings.TrimSpace(f.Values.Get(name)) }

// Set sets a field's value (what the form shows).
func (f *Form) Set(name, value string) { f.Values.Set(name, value) }

// Fail records an error for a field; the first error of a field wins.
func (f *Form) Fail(name, message string) {
	if _, ok := f.Errors[name]; !ok {
		f.Errors[name] = message
	}
}

// Valid reports whether no field failed and there is no form message.
func (f *Form) Valid() bool { return len(f.Errors) == 0 && f.Message == "" }

// Required checks that each named field is present.
func (f *Form) Required(names ...string) {
	for _, n := range names {
		if f.Get(n) == "" {
			f.Fail(n, "This field is required.")
		}
	}
}

// MaxLen checks that a field has at most n characters.
func (f *Form) MaxLen(name string, n int) {
	if utf8.RuneCountInString(f.Get(name)) > n {
		f.Fail(name, fmt.Sprintf("Use at most %d characters.", n))
	}
}

// Field returns the named field for the "field" template, with its value
// and error.
func (f *Form) Field(name, label, typ string) Field {
	return Field{Name: name, Label: label, Type: typ, Value: f.Values.Get(name), Error: f.Errors[name], OK: f.Notes[name]}
}

// Select returns a select field with options given as value, label pairs.
func (f *Form) Select(name, label string, pairs ...string) Field {
	fd := f.Field(name, label, "select")
	for i := 0; i+1 < len(pairs); i += 2 {
		fd.Options = append(fd.Options, Option{pairs[i], pairs[i+1]})
	}
	return fd
}

const flashCookie = "flash"

// SetFlash stores a one-time message shown by the next page that calls
// [TakeFlash] (after a redirect). It travels in a short-lived host-only
// cookie; pages escape it like any text.
func SetFlash(w http.ResponseWriter, r *http.Request, secure bool, msg string) {
	http.SetCookie(w, &http.Cookie{
		Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(msg)),
		Path: "/", MaxAge: 60, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	})
}

// TakeFlash returns the pending message, if any, and clears it.
func TakeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1})
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(b) > 300 || !utf8.Valid(b) {
		return ""
	}
	return string(b)
}

func formatDate(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return t.Format("2 Jan 2006")
}

// FormatBytes formats a size in bytes for people: "8.0 kB", "1.2 MB".
func FormatBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// Sentence turns a validation reason ("must not be empty", "longer than 63
// characters", as Condo's name errors give them) into a sentence about
// subject: "The address is longer than 63 characters."
func Sentence(subject, reason string) string {
	if strings.HasPrefix(reason, "longer than") {
		return subject + " is " + reason + "."
	}
	return subject + " " + reason + "."
}

// LoadPages parses a site's pages: the *.html files in the templates
// directory of fsys (the site's embedded files), as [Parse] does.
func LoadPages(fsys fs.FS, logger *slog.Logger) (*Templates, error) {
	sub, err := fs.Sub(fsys, "templates")
	if err != nil {
		return nil, err
	}
	return Parse(sub, nil, logger)
}

// SafeNext returns next when a browser would read it as a path on this
// host, else "/": what a sign-in form may redirect to without becoming an
// open redirect.
//
// It judges next the way the WHATWG URL parser (what browsers run on a
// Location header) will read it, not by a list of bad prefixes: leading
// and trailing C0 controls and spaces are stripped, tab and newline are
// removed anywhere, and "\" counts as "/" (the parser does so for http
// and https). What remains must start with exactly one slash, followed by
// neither a slash nor a backslash ("/\x" and "//x" are other hosts), and
// contain no other control character. The normalised form is returned, so
// what is sent is what was judged. "/%09/evil.com" stays a harmless path
// (percent escapes are not decoded by the parser); "/\t/evil.com" with a
// real tab is refused, since the browser drops the tab and reads
// "//evil.com".
func SafeNext(next string) string {
	if !utf8.ValidString(next) {
		return "/"
	}
	s := strings.TrimFunc(next, func(r rune) bool { return r <= 0x20 })
	s = strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, s)
	if len(s) == 0 || s[0] != '/' || len(s) > 1 && s[1] == '/' || len(s) > 2048 {
		return "/"
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "/"
		}
	}
	return s
}

// LogError logs err, an internal error of a request to the site named
// site, with the path and request id; not for requests the client gave up
// on (their errors are the cancellation itself).
func LogError(r *http.Request, logger *slog.Logger, site string, err error) {
	if r.Context().Err() != nil {
		return
	}
	logger.LogAttrs(r.Context(), slog.LevelError, site, slog.String("path", r.URL.Path),
		slog.String("request_id", condohttp.RequestID(r.Context())), slog.String("error", err.Error()))
}
