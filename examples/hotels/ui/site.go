package ui

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/examples/hotels/accounts"
)

// SiteConfig is what one of the app's sites tells the [Site] skeleton.
type SiteConfig struct {
	// Name names the site in logs: "admin", "public site", "tenant app".
	Name string
	// Files are the site's embedded files, its pages under templates/
	// (see [LoadPages]).
	Files fs.FS
	// Realm is whose sessions the site's cookie carries. Defaults to
	// [accounts.RealmUser].
	Realm accounts.Realm
	// Header fills the site's part of every page's [View]: Site, Home,
	// Nav and User, for the page current ("" for none) and the request's
	// accounts state. The skeleton fills the rest.
	Header func(r *http.Request, st *accounts.State, current string) *View
	// NotFound is the way on from a 404 page, as a link ("/") and its
	// label ("Home").
	NotFound, NotFoundLabel string
	// InternalMessage is what a page says about an internal error: never
	// the error itself, which goes to the log. Defaults to a generic
	// sentence.
	InternalMessage string
	// SignIn decides, after the password was accepted, whether u may
	// sign in here and into which tenant (0: none). When it returns
	// ok=false it has answered the request itself. Defaults to allowing
	// everyone, with no tenant.
	SignIn func(w http.ResponseWriter, r *http.Request, u *accounts.User) (tenantID int64, ok bool, err error)
	// SignedIn reports whether the state counts as signed in on this
	// site (the sign-in form then sends the browser on). Defaults to
	// having a session.
	SignedIn func(st *accounts.State) bool
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Site is the skeleton the app's three sites share: page rendering
// inside the common layout, the session and CSRF middleware, sign-in and
// sign-out, error pages, one-time messages, the shared assets and the
// favicon. Each site keeps only its own pages and routes.
type Site struct {
	// Pages are the site's pages.
	Pages *Templates
	// Auth is the site's session cookie and CSRF protection.
	Auth   *accounts.Auth
	store  *accounts.Store
	cfg    SiteConfig
	logger *slog.Logger
}

// NewSite parses the site's pages and sets up its accounts middleware.
func NewSite(store *accounts.Store, cfg SiteConfig) (*Site, error) {
	s := &Site{store: store, cfg: cfg, logger: cmp.Or(cfg.Logger, slog.Default())}
	s.cfg.Realm = cmp.Or(cfg.Realm, accounts.RealmUser)
	s.cfg.InternalMessage = cmp.Or(cfg.InternalMessage, "The request could not be completed. Please try again.")
	if s.cfg.SignIn == nil {
		s.cfg.SignIn = func(http.ResponseWriter, *http.Request, *accounts.User) (int64, bool, error) { return 0, true, nil }
	}
	if s.cfg.SignedIn == nil {
		s.cfg.SignedIn = func(st *accounts.State) bool { return st.Session != nil }
	}
	var err error
	if s.Pages, err = LoadPages(cfg.Files, s.logger); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	s.Auth = accounts.NewAuth(store, &accounts.AuthConfig{Realm: s.cfg.Realm, Error: s.Error, Logger: s.logger})
	return s, nil
}

// Handler serves app, the site's own routes, behind the accounts
// middleware, with a 404 page for every path app does not route, and
// the shared assets and the favicon outside it. The caller may add
// routes of its own to the returned mux (outside sessions).
func (s *Site) Handler(app *http.ServeMux) *http.ServeMux {
	app.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.Error(w, r, http.StatusNotFound, "Page not found", "There is no page at this address.")
	})
	mux := http.NewServeMux()
	mux.Handle("GET /static/", Static())
	mux.Handle("GET /favicon.ico", Favicon())
	mux.Handle("/", s.Auth.Middleware(app))
	return mux
}

// View returns the view of a page titled title, with the site's header
// for the page current, the request's CSRF token and pending message.
func (s *Site) View(w http.ResponseWriter, r *http.Request, title, current string, data any) *View {
	st := accounts.StateFrom(r.Context())
	v := s.cfg.Header(r, st, current)
	v.Title, v.CSRF, v.Flash, v.Data = title, st.CSRF, TakeFlash(w, r), data
	return v
}

// Render renders page with status, in a view made by [Site.View].
func (s *Site) Render(w http.ResponseWriter, r *http.Request, status int, page, title, current string, data any) {
	s.Pages.Render(w, r, status, page, s.View(w, r, title, current, data))
}

// Error renders the common error page with status: a title and a
// message for people, and for a 404 the site's way on. It is also the
// accounts middleware's page for refused forms.
func (s *Site) Error(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	v := s.View(w, r, title, "", nil)
	if status == http.StatusNotFound && s.cfg.NotFound != "" {
		v.Data = ErrorData{Link: s.cfg.NotFound, LinkLabel: s.cfg.NotFoundLabel}
	}
	s.Pages.Error(w, r, status, v, title, message)
}

// Internal answers an internal error: logged with the request, and a
// generic page for people, 503 (with Retry-After, from the server) when
// the database is away for a moment, else 500.
func (s *Site) Internal(w http.ResponseWriter, r *http.Request, err error) {
	LogError(r, s.logger, s.cfg.Name, err)
	code := condohttp.ErrorStatusCode(err)
	if code < 500 {
		code = http.StatusInternalServerError
	}
	s.Error(w, r, code, "Something went wrong", s.cfg.InternalMessage)
}

// Redirect sends the browser on after a change (303), with a one-time
// message for the next page when flash is not empty.
func (s *Site) Redirect(w http.ResponseWriter, r *http.Request, target, flash string) {
	if flash != "" {
		SetFlash(w, r, accounts.StateFrom(r.Context()).Secure, flash)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// RequireSession wraps a handler for signed-in people: anyone else is
// sent to the sign-in form, which sends them back afterwards (GET only).
func (s *Site) RequireSession(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if accounts.StateFrom(r.Context()).Session == nil {
			target := "/login"
			if r.Method == http.MethodGet && r.URL.Path != "/" {
				target += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		next(w, r)
	}
}

// LoginData is the data of a site's "login" page.
type LoginData struct {
	Form *Form
	// Next is where to go after signing in: a path on this host
	// ([SafeNext]).
	Next string
}

// HandleLogin adds GET and POST /login and POST /logout to app.
func (s *Site) HandleLogin(app *http.ServeMux) {
	app.HandleFunc("GET /login", s.loginForm)
	app.HandleFunc("POST /login", s.login)
	app.HandleFunc("POST /logout", s.logout)
}

func (s *Site) loginForm(w http.ResponseWriter, r *http.Request) {
	if s.cfg.SignedIn(accounts.StateFrom(r.Context())) {
		http.Redirect(w, r, SafeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, NewForm(nil), r.URL.Query().Get("next"))
}

func (s *Site) renderLogin(w http.ResponseWriter, r *http.Request, status int, f *Form, next string) {
	s.Render(w, r, status, "login", "Sign in", "", LoginData{Form: f, Next: SafeNext(next)})
}

func (s *Site) login(w http.ResponseWriter, r *http.Request) {
	f := NewForm(r.PostForm)
	next := r.PostForm.Get("next")
	f.Required("email", "password")
	if !f.Valid() {
		s.renderLogin(w, r, http.StatusUnprocessableEntity, f, next)
		return
	}
	u, err := s.store.Authenticate(r.Context(), s.cfg.Realm, f.Get("email"), r.PostForm.Get("password"), accounts.ClientAddr(r))
	msg, throttled := accounts.Throttled(w, err)
	switch {
	case throttled:
		f.Message = msg
		s.renderLogin(w, r, http.StatusTooManyRequests, f, next)
		return
	case errors.Is(err, accounts.ErrBadCredentials):
		f.Message = "Wrong e-mail or password."
		s.renderLogin(w, r, http.StatusUnauthorized, f, next)
		return
	case err != nil:
		s.Internal(w, r, err)
		return
	}
	tenantID, ok, err := s.cfg.SignIn(w, r, u)
	if err != nil {
		s.Internal(w, r, err)
		return
	}
	if !ok {
		return
	}
	if err := s.Auth.SignIn(w, r, u.ID, tenantID); err != nil {
		s.Internal(w, r, err)
		return
	}
	http.Redirect(w, r, SafeNext(next), http.StatusSeeOther)
}

func (s *Site) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.Auth.SignOut(w, r); err != nil {
		s.Internal(w, r, err)
		return
	}
	s.Redirect(w, r, "/login", "You are signed out.")
}
