package admin

import (
	"cmp"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/examples/hotels/accounts"
	"github.com/condo-dev/condo/examples/hotels/ui"
)

//go:embed templates/*.html
var templates embed.FS

// Config configures the admin. A nil *Config is valid.
type Config struct {
	// PageSize is the number of tenants per page. Defaults to 50.
	PageSize int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Handler is the platform admin.
type Handler struct {
	reg      *condo.Registry
	store    *accounts.Store
	auth     *accounts.Auth
	tmpl     *ui.Templates
	pageSize int
	logger   *slog.Logger
	handler  http.Handler
}

// New returns the admin over reg and store.
func New(reg *condo.Registry, store *accounts.Store, cfg *Config) (*Handler, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	logger := cmp.Or(cfg.Logger, slog.Default())
	tmpl, err := ui.LoadPages(templates, logger)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	h := &Handler{reg: reg, store: store, tmpl: tmpl, pageSize: cmp.Or(cfg.PageSize, 50), logger: logger}
	h.auth = accounts.NewAuth(store, &accounts.AuthConfig{Realm: accounts.RealmAdmin, Error: h.errorPage, Logger: logger})
	app := http.NewServeMux()
	app.HandleFunc("GET /login", h.loginForm)
	app.HandleFunc("POST /login", h.login)
	app.HandleFunc("POST /logout", h.logout)
	app.HandleFunc("GET /{$}", h.admin(h.dashboard))
	app.HandleFunc("GET /tenants", h.admin(h.tenants))
	app.HandleFunc("GET /tenants/new", h.admin(h.newTenant))
	app.HandleFunc("POST /tenants/new", h.admin(h.createTenant))
	app.HandleFunc("GET /tenants/{slug}", h.admin(h.tenant))
	app.HandleFunc("POST /tenants/{slug}/{action}", h.admin(h.tenantAction))
	app.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.errorPage(w, r, http.StatusNotFound, "Page not found", "There is no page at this address.")
	})
	mux := http.NewServeMux()
	mux.Handle("GET /static/", ui.Static())
	mux.Handle("/", h.auth.Middleware(app))
	h.handler = mux
	return h, nil
}

// ServeHTTP serves the admin.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.handler.ServeHTTP(w, r) }

type page struct {
	w     http.ResponseWriter
	r     *http.Request
	state *accounts.State
}

func (h *Handler) admin(fn func(p *page)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st := accounts.StateFrom(r.Context())
		if st.Session == nil {
			target := "/login"
			if r.Method == http.MethodGet && r.URL.Path != "/" {
				target += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		fn(&page{w: w, r: r, state: st})
	}
}

func (h *Handler) view(w http.ResponseWriter, r *http.Request, title, current string, data any) *ui.View {
	st := accounts.StateFrom(r.Context())
	v := &ui.View{Title: title, Site: "Platform admin", CSRF: st.CSRF, Flash: ui.TakeFlash(w, r), Data: data}
	if st.Session != nil {
		v.User = st.Session.Email
		v.Nav = []ui.NavItem{
			{Label: "Overview", Href: "/", Current: current == "overview"},
			{Label: "Tenants", Href: "/tenants", Current: current == "tenants"},
			{Label: "New tenant", Href: "/tenants/new", Current: current == "new"},
		}
	}
	return v
}

func (p *page) render(h *Handler, status int, name, title, current string, data any) {
	h.tmpl.Render(p.w, p.r, status, name, h.view(p.w, p.r, title, current, data))
}

func (p *page) redirect(target, flash string) {
	if flash != "" {
		ui.SetFlash(p.w, p.r, p.state.Secure, flash)
	}
	http.Redirect(p.w, p.r, target, http.StatusSeeOther)
}

func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	v := h.view(w, r, title, "", nil)
	if status == http.StatusNotFound {
		v.Data = ui.ErrorData{Link: "/tenants", LinkLabel: "All tenants"}
	}
	h.tmpl.Error(w, r, status, v, title, message)
}

func (h *Handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	ui.LogError(r, h.logger, "admin", err)
	// 503 (with Retry-After, from the server) when the database is away
	// for a moment, 500 otherwise.
	code := condohttp.ErrorStatusCode(err)
	if code < 500 {
		code = http.StatusInternalServerError
	}
	h.errorPage(w, r, code, "Something went wrong", "The request could not be completed. Please try again; the log has the details.")
}

type loginData struct {
	Form *ui.Form
	Next string
}

func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request) {
	if accounts.StateFrom(r.Context()).Session != nil {
		http.Redirect(w, r, ui.SafeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	h.tmpl.Render(w, r, http.StatusOK, "login", h.view(w, r, "Sign in", "", loginData{Form: ui.NewForm(nil), Next: ui.SafeNext(r.URL.Query().Get("next"))}))
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	f := ui.NewForm(r.PostForm)
	next := ui.SafeNext(r.PostForm.Get("next"))
	render := func(status int) {
		h.tmpl.Render(w, r, status, "login", h.view(w, r, "Sign in", "", loginData{Form: f, Next: next}))
	}
	f.Required("email", "password")
	if !f.Valid() {
		render(http.StatusUnprocessableEntity)
		return
	}
	u, err := h.store.Authenticate(r.Context(), accounts.RealmAdmin, f.Get("email"), r.PostForm.Get("password"), accounts.ClientAddr(r))
	msg, throttled := accounts.Throttled(w, err)
	switch {
	case throttled:
		f.Message = msg
		render(http.StatusTooManyRequests)
		return
	case errors.Is(err, accounts.ErrBadCredentials):
		f.Message = "Wrong e-mail or password."
		render(http.StatusUnauthorized)
		return
	case err != nil:
		h.internal(w, r, err)
		return
	}
	if err := h.auth.SignIn(w, r, u.ID, 0); err != nil {
		h.internal(w, r, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if err := h.auth.SignOut(w, r); err != nil {
		h.internal(w, r, err)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
