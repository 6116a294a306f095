package site

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condohttp"
	"github.com/condo-dev/condo/condomail"
	"github.com/condo-dev/condo/examples/hotels/accounts"
	"github.com/condo-dev/condo/examples/hotels/ui"
)

//go:embed templates/*.html
var templates embed.FS

// Config configures the public site. A nil *Config is valid.
type Config struct {
	// SiteName is the product's name. Defaults to "Hotels".
	SiteName string
	// TrialDays is the length of a new tenant's trial (its paid_until).
	// Defaults to 14.
	TrialDays int
	// SignupLimit throttles signups per client address. Defaults to 10 an
	// hour.
	SignupLimit *accounts.Limit
	// Mail, when set, sends a new account a link that confirms its
	// e-mail address. Nil: no mail.
	Mail *condomail.Mailer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Handler is the public site.
type Handler struct {
	reg     *condo.Registry
	store   *accounts.Store
	site    *ui.Site
	name    string
	trial   int
	limit   accounts.Limit
	mail    *condomail.Mailer
	logger  *slog.Logger
	handler http.Handler
}

// New returns the public site over reg and store.
func New(reg *condo.Registry, store *accounts.Store, cfg *Config) (*Handler, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	logger := cmp.Or(cfg.Logger, slog.Default())
	h := &Handler{
		reg: reg, store: store,
		name:   cmp.Or(cfg.SiteName, "Hotels"),
		trial:  cmp.Or(cfg.TrialDays, 14),
		limit:  accounts.Limit{Max: 10, Window: time.Hour, Block: time.Hour},
		mail:   cfg.Mail,
		logger: logger,
	}
	if cfg.SignupLimit != nil {
		h.limit = *cfg.SignupLimit
	}
	site, err := ui.NewSite(store, ui.SiteConfig{
		Name: "public site", Files: templates, Header: h.header,
		NotFound: "/", NotFoundLabel: "Home",
		InternalMessage: "The request could not be completed. Nothing was created. Please try again.",
		Logger:          logger,
	})
	if err != nil {
		return nil, err
	}
	h.site = site
	app := http.NewServeMux()
	app.HandleFunc("GET /{$}", h.landing)
	app.HandleFunc("GET /signup", h.signupForm)
	app.HandleFunc("POST /signup", h.signup)
	app.HandleFunc("GET /signup/check", h.check)
	app.HandleFunc("GET /go", h.goToWorkspace)
	h.handler = site.Handler(app)
	return h, nil
}

// ServeHTTP serves the public site.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.handler.ServeHTTP(w, r) }

// header is the public site's page header: the product and the way to
// sign up.
func (h *Handler) header(r *http.Request, _ *accounts.State, _ string) *ui.View {
	return &ui.View{Site: h.name, Nav: []ui.NavItem{{Label: "Create a workspace", Href: "/signup", Current: r.URL.Path == "/signup"}}}
}

// baseHost is the public host of the request without "www.": the base
// domain with its port, under which tenants live.
func baseHost(r *http.Request) string {
	host := strings.ToLower(r.Host)
	return strings.TrimPrefix(host, "www.")
}

func scheme(r *http.Request) string {
	if condohttp.IsHTTPS(r) {
		return "https"
	}
	return "http"
}

// tenantURL is the address of slug's site, under the request's base host.
func tenantURL(r *http.Request, slug string) string {
	return scheme(r) + "://" + slug + "." + baseHost(r)
}

type landingData struct {
	Base string
}

func (h *Handler) landing(w http.ResponseWriter, r *http.Request) {
	h.site.Render(w, r, http.StatusOK, "landing", h.name, "", landingData{Base: baseHost(r)})
}

// goToWorkspace sends someone who typed their workspace's address to its
// sign-in page.
func (h *Handler) goToWorkspace(w http.ResponseWriter, r *http.Request) {
	slug := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("slug")))
	if h.reg.ValidateSlug(slug) != nil {
		h.site.Error(w, r, http.StatusNotFound, "Workspace not found", "There is no workspace at that address. Check the spelling.")
		return
	}
	t, err := h.reg.Get(r.Context(), slug)
	if errors.Is(err, condo.ErrTenantNotFound) || err == nil && t.Status == condo.StatusDeleted {
		h.site.Error(w, r, http.StatusNotFound, "Workspace not found", "There is no workspace at that address. Check the spelling.")
		return
	}
	if err != nil {
		h.site.Internal(w, r, err)
		return
	}
	http.Redirect(w, r, tenantURL(r, slug)+"/login", http.StatusSeeOther)
}

type signupData struct {
	Form *ui.Form
	Base string
}

func (h *Handler) renderSignup(w http.ResponseWriter, r *http.Request, status int, f *ui.Form) {
	v := h.site.View(w, r, "Create your workspace", "", signupData{Form: f, Base: baseHost(r)})
	v.Scripts = []string{"signup.js"}
	h.site.Pages.Render(w, r, status, "signup", v)
}

func (h *Handler) signupForm(w http.ResponseWriter, r *http.Request) {
	h.renderSignup(w, r, http.StatusOK, ui.NewForm(nil))
}

// checkSlug says whether slug can be had: a message for the person and
// whether it is available.
func (h *Handler) checkSlug(ctx context.Context, slug string) (ok bool, msg string, err error) {
	if err := h.reg.ValidateSlug(slug); err != nil {
		return false, slugMessage(err), nil
	}
	_, err = h.reg.Get(ctx, slug)
	switch {
	case err == nil:
		return false, fmt.Sprintf("%s is taken. Choose another address.", slug), nil
	case errors.Is(err, condo.ErrTenantNotFound):
		return true, fmt.Sprintf("%s is available.", slug), nil
	}
	return false, "", err
}

// slugMessage turns a slug's *NameError into a sentence for people.
func slugMessage(err error) string {
	var ne *condo.NameError
	switch {
	case !errors.As(err, &ne):
		return "Choose another address."
	case ne.Reason == "is reserved":
		return fmt.Sprintf("%s is reserved. Choose another address.", ne.Name)
	case ne.Name == "":
		return "Choose an address for your workspace."
	case strings.HasPrefix(ne.Reason, "character"):
		return "The " + ne.Reason + "."
	}
	return ui.Sentence("The address", ne.Reason)
}

// normSlug is what people mean: "Acme " is acme.
func normSlug(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

type checkResult struct {
	Slug    string `json:"slug"`
	OK      bool   `json:"ok"`
	Message string `json:"message"`
}

// check answers the live slug check: JSON for the script, else the signup
// form with the result (a browser without JavaScript that followed a
// link or submitted a GET form).
func (h *Handler) check(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("slug")
	slug := normSlug(raw)
	if len(slug) > 2*condo.MaxSlugLen {
		slug = slug[:2*condo.MaxSlugLen]
	}
	ok, msg, err := h.checkSlug(r.Context(), slug)
	if err != nil {
		h.site.Internal(w, r, err)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") || r.URL.Query().Get("format") == "json" {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(checkResult{Slug: slug, OK: ok, Message: msg})
		return
	}
	f := ui.NewForm(url.Values{"slug": {slug}})
	if ok {
		f.Notes["slug"] = msg
	} else {
		f.Fail("slug", msg)
	}
	h.renderSignup(w, r, http.StatusOK, f)
}

// errSignupRefused answers a signup whose e-mail has an account and whose
// password is not that account's. It is the only way a signup with valid
// fields fails, and it does not say that the address has an account:
// "already has an account" told anyone who typed an address. Without
// e-mail (no confirmation link can be sent yet) a new address must end in
// a workspace, so a prober can still tell the cases apart by succeeding;
// but each such probe creates a workspace (10 an hour per address) and
// each wrong password counts against the login throttle.
const errSignupRefused = "This e-mail and password cannot be used to create a workspace. If this e-mail already has an account, use that account's password; otherwise use another e-mail."

func (h *Handler) signup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f := ui.NewForm(r.PostForm)
	slug := normSlug(f.Get("slug"))
	f.Set("slug", slug)
	password := r.PostForm.Get("password")

	if r.PostForm.Get("action") == "check" {
		ok, msg, err := h.checkSlug(ctx, slug)
		if err != nil {
			h.site.Internal(w, r, err)
			return
		}
		if ok {
			f.Notes["slug"] = msg
		} else {
			f.Fail("slug", msg)
		}
		h.renderSignup(w, r, http.StatusOK, f)
		return
	}

	addr := accounts.ClientAddr(r)
	if wait, err := h.store.Blocked(ctx, "signup:"+addr); err != nil {
		h.site.Internal(w, r, err)
		return
	} else if wait > 0 {
		f.Message = fmt.Sprintf("Too many workspaces were created from your address. Try again in %d minutes.", (&accounts.ThrottledError{RetryAfter: wait}).Minutes())
		h.renderSignup(w, r, http.StatusTooManyRequests, f)
		return
	}

	name := f.Get("name")
	if err := condo.ValidateName(name); err != nil {
		var ne *condo.NameError
		if errors.As(err, &ne) {
			f.Fail("name", ui.Sentence("The name", ne.Reason))
		}
	}
	if ok, msg, err := h.checkSlug(ctx, slug); err != nil {
		h.site.Internal(w, r, err)
		return
	} else if !ok {
		f.Fail("slug", msg)
	}
	email, err := accounts.NormalizeEmail(f.Get("email"))
	var ie *accounts.InputError
	if errors.As(err, &ie) {
		f.Fail("email", ie.Message)
	}
	if err := accounts.CheckPassword(password, email); errors.As(err, &ie) {
		f.Fail("password", ie.Message)
	}
	if !f.Valid() {
		h.renderSignup(w, r, http.StatusUnprocessableEntity, f)
		return
	}

	// An address with an account is a sign-in: its password is checked
	// with the login throttle, before any workspace is built, so signup is
	// no faster password oracle than /login and a wrong guess costs no
	// schema. The answer to a wrong password names no account (see
	// errSignupRefused).
	existing, err := h.store.SignupUser(ctx, email, password, addr)
	if msg, ok := accounts.Throttled(w, err); ok {
		f.Message = msg
		h.renderSignup(w, r, http.StatusTooManyRequests, f)
		return
	}
	if errors.Is(err, accounts.ErrBadCredentials) {
		f.Fail("email", errSignupRefused)
		h.renderSignup(w, r, http.StatusUnprocessableEntity, f)
		return
	}
	if err != nil {
		h.site.Internal(w, r, err)
		return
	}

	// Counted before the workspace is built, in one statement with the
	// limit's check, so a burst of signups cannot pass the check above
	// all at once.
	if wait, err := h.store.Take(ctx, "signup:"+addr, h.limit); err != nil {
		h.site.Internal(w, r, err)
		return
	} else if wait > 0 {
		f.Message = fmt.Sprintf("Too many workspaces were created from your address. Try again in %d minutes.", (&accounts.ThrottledError{RetryAfter: wait}).Minutes())
		h.renderSignup(w, r, http.StatusTooManyRequests, f)
		return
	}

	paid := time.Now().UTC().AddDate(0, 0, h.trial)
	var token string
	_, err = h.reg.Create(ctx, condo.CreateParams{
		Slug: slug, Name: name, OnTrial: true, PaidUntil: &paid,
		OnCreated: func(ctx context.Context, tx pgx.Tx, t *condo.Tenant) error {
			u := existing
			if u == nil {
				var err error
				if u, err = h.store.CreateUserTx(ctx, tx, email, password); err != nil {
					return err
				}
				if err := h.sendVerification(condo.WithTenant(ctx, t), tx, r, u); err != nil {
					return err
				}
			}
			if err := h.store.AddMemberTx(ctx, tx, u.ID, t.ID, accounts.RoleOwner); err != nil {
				return err
			}
			token, err = h.store.CreateHandoffTx(ctx, tx, u.ID, t.ID)
			return err
		},
	})
	switch {
	case errors.Is(err, condo.ErrTenantExists):
		f.Fail("slug", fmt.Sprintf("%s is taken. Choose another address.", slug))
	case errors.Is(err, accounts.ErrEmailTaken):
		// The address got an account since SignupUser looked.
		f.Fail("email", errSignupRefused)
	case err != nil:
		var ne *condo.NameError
		if errors.As(err, &ne) {
			f.Fail("slug", slugMessage(err))
			break
		}
		h.site.Internal(w, r, err)
		return
	}
	if !f.Valid() {
		h.renderSignup(w, r, http.StatusUnprocessableEntity, f)
		return
	}
	h.logger.LogAttrs(ctx, slog.LevelInfo, "signup", slog.String("tenant", slug))
	// The token is in the URL for one hop: the tenant app redeems it at
	// once and answers with no-referrer.
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, tenantURL(r, slug)+"/auth/handoff?token="+url.QueryEscape(token), http.StatusSeeOther)
}

// sendVerification mails a new account the link that confirms its
// address, in the transaction that creates it (and the workspace), with
// the workspace's name: no mail for a signup that failed.
func (h *Handler) sendVerification(ctx context.Context, tx pgx.Tx, r *http.Request, u *accounts.User) error {
	if h.mail == nil {
		return nil
	}
	t, _ := condo.TenantFromContext(ctx)
	tok, err := h.store.CreateVerifyTx(ctx, tx, u.ID)
	if err != nil {
		return err
	}
	return h.mail.SendTx(ctx, tx, "verify", u.Email, map[string]string{"Email": u.Email, "Link": tenantURL(r, t.Slug) + "/verify/" + tok})
}
