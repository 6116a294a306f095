package tenantapp

import (
	"errors"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/examples/hotels/accounts"
	"github.com/condo-dev/condo/examples/hotels/ui"
)

// The mailed links: a password reset, which also unlocks a sign-in
// blocked by the throttle (the way back in for an owner locked out by
// someone guessing), and the e-mail verification sent at signup.

type forgotData struct {
	Form *ui.Form
	// Sent is true once the form was sent: the page then says the same
	// whether or not the address has an account.
	Sent bool
}

func (h *Handler) forgotForm(w http.ResponseWriter, r *http.Request) {
	h.site.Render(w, r, http.StatusOK, "forgot", "Reset your password", "", forgotData{Form: ui.NewForm(nil)})
}

func (h *Handler) forgot(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f := ui.NewForm(r.PostForm)
	if h.mail == nil {
		f.Message = "This server sends no mail. Ask an owner of the workspace to invite you again."
		h.site.Render(w, r, http.StatusServiceUnavailable, "forgot", "Reset your password", "", forgotData{Form: f})
		return
	}
	link := h.baseURL(r) + "/password/reset/"
	err := pgx.BeginFunc(ctx, h.store.Pool(), func(tx pgx.Tx) error {
		tok, u, err := h.store.CreateResetTx(ctx, tx, f.Get("email"))
		if err != nil || u == nil {
			return err
		}
		return h.mail.SendTx(ctx, tx, "reset", u.Email, map[string]string{"Email": u.Email, "Link": link + tok})
	})
	var ie *accounts.InputError
	if errors.As(err, &ie) {
		f.Fail(ie.Field, ie.Message)
		h.site.Render(w, r, http.StatusUnprocessableEntity, "forgot", "Reset your password", "", forgotData{Form: f})
		return
	}
	if err != nil {
		h.site.Internal(w, r, err)
		return
	}
	h.site.Render(w, r, http.StatusOK, "forgot", "Reset your password", "", forgotData{Form: f, Sent: true})
}

type resetData struct {
	Form  *ui.Form
	Email string
}

func (h *Handler) resetForm(w http.ResponseWriter, r *http.Request) {
	h.showReset(w, r, http.StatusOK, ui.NewForm(nil))
}

func (h *Handler) showReset(w http.ResponseWriter, r *http.Request, status int, f *ui.Form) {
	// The token is in the URL: never send it on to another site.
	w.Header().Set("Referrer-Policy", "no-referrer")
	u, err := h.store.ResetUser(r.Context(), r.PathValue("token"))
	if errors.Is(err, accounts.ErrInvalidToken) {
		h.expiredLink(w, r)
		return
	}
	if err != nil {
		h.site.Internal(w, r, err)
		return
	}
	h.site.Render(w, r, status, "reset", "Choose a new password", "", resetData{Form: f, Email: u.Email})
}

func (h *Handler) expiredLink(w http.ResponseWriter, r *http.Request) {
	v := h.site.View(w, r, "", "", ui.ErrorData{Link: "/password/forgot", LinkLabel: "Ask for a new link"})
	h.site.Pages.Error(w, r, http.StatusNotFound, v, "Link expired",
		"This link has expired or was already used. Ask for a new one.")
}

// reset sets the new password, or with "unlock" only lifts the sign-in
// block; then signs the person in when they are a member here.
func (h *Handler) reset(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	t, _ := condo.TenantFromContext(ctx)
	w.Header().Set("Referrer-Policy", "no-referrer")
	f := ui.NewForm(r.PostForm)
	password := ""
	if !r.PostForm.Has("unlock") {
		password = r.PostForm.Get("password")
		if password != r.PostForm.Get("confirm") {
			f.Fail("confirm", "The two passwords differ.")
			h.showReset(w, r, http.StatusUnprocessableEntity, f)
			return
		}
		if password == "" {
			f.Fail("password", "Choose a new password.")
			h.showReset(w, r, http.StatusUnprocessableEntity, f)
			return
		}
	}
	u, err := h.store.ResetPassword(ctx, r.PathValue("token"), password, accounts.ClientAddr(r))
	var ie *accounts.InputError
	switch {
	case errors.As(err, &ie):
		f.Fail(ie.Field, ie.Message)
		h.showReset(w, r, http.StatusUnprocessableEntity, f)
		return
	case errors.Is(err, accounts.ErrInvalidToken):
		h.expiredLink(w, r)
		return
	case err != nil:
		h.site.Internal(w, r, err)
		return
	}
	msg := "Your password is changed."
	if password == "" {
		msg = "Your account is unlocked. Sign in with your password."
		h.site.Redirect(w, r, "/login", msg)
		return
	}
	role, err := h.store.Role(ctx, u.ID, t.ID)
	if err != nil {
		h.site.Internal(w, r, err)
		return
	}
	if role == "" {
		h.site.Redirect(w, r, "/login", msg)
		return
	}
	if err := h.site.Auth.SignIn(w, r, u.ID, t.ID); err != nil {
		h.site.Internal(w, r, err)
		return
	}
	h.site.Redirect(w, r, "/", msg)
}

// verify redeems the signup's e-mail verification link.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	email, err := h.store.VerifyEmail(r.Context(), r.PathValue("token"))
	if errors.Is(err, accounts.ErrInvalidToken) {
		v := h.site.View(w, r, "", "", ui.ErrorData{Link: "/", LinkLabel: "Go on"})
		h.site.Pages.Error(w, r, http.StatusNotFound, v, "Link expired",
			"This confirmation link has expired or was already used.")
		return
	}
	if err != nil {
		h.site.Internal(w, r, err)
		return
	}
	h.site.Redirect(w, r, "/", email+" is confirmed. Thank you.")
}

// baseURL is this host's scheme and host, for links in mail.
func (h *Handler) baseURL(r *http.Request) string {
	scheme := "http"
	if accounts.StateFrom(r.Context()).Secure {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
