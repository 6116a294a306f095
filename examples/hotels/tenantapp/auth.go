package tenantapp

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/examples/hotels/accounts"
	"github.com/condo-dev/condo/examples/hotels/ui"
)

// handoff redeems the one-time link that the public signup sends its new
// owner to: the session cookie can only be set by this host.
func (h *Handler) handoff(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	t, _ := condo.TenantFromContext(ctx)
	// The token is in the URL: never send it on to another site.
	w.Header().Set("Referrer-Policy", "no-referrer")
	userID, err := h.store.ConsumeHandoff(ctx, r.URL.Query().Get("token"), t.ID)
	if errors.Is(err, accounts.ErrInvalidToken) {
		v := h.site.View(w, r, "", "", ui.ErrorData{Link: "/login", LinkLabel: "Sign in"})
		h.site.Pages.Error(w, r, http.StatusBadRequest, v, "Link expired",
			"This sign-in link has expired or was already used. Sign in with your e-mail and password.")
		return
	}
	if err != nil {
		h.site.Internal(w, r, err)
		return
	}
	if err := h.site.Auth.SignIn(w, r, userID, t.ID); err != nil {
		h.site.Internal(w, r, err)
		return
	}
	h.site.Redirect(w, r, "/", fmt.Sprintf("Welcome to %s! Add your first hotel.", t.Name))
}

type inviteData struct {
	Form       *ui.Form
	Invitation *accounts.Invitation
}

func (h *Handler) inviteForm(w http.ResponseWriter, r *http.Request) {
	h.showInvite(w, r, http.StatusOK, ui.NewForm(nil))
}

func (h *Handler) showInvite(w http.ResponseWriter, r *http.Request, status int, f *ui.Form) {
	ctx := r.Context()
	t, _ := condo.TenantFromContext(ctx)
	w.Header().Set("Referrer-Policy", "no-referrer")
	inv, err := h.store.Invitation(ctx, r.PathValue("token"), t.ID)
	v := h.site.View(w, r, "", "", nil)
	if errors.Is(err, accounts.ErrInvalidToken) {
		v.Data = ui.ErrorData{Link: "/login", LinkLabel: "Sign in"}
		h.site.Pages.Error(w, r, http.StatusNotFound, v, "Invitation not valid",
			"This invitation link has expired, was already used, or belongs to another workspace. Ask for a new one.")
		return
	}
	if err != nil {
		h.site.Internal(w, r, err)
		return
	}
	v.Title = "Join " + t.Name
	v.Data = inviteData{Form: f, Invitation: inv}
	h.site.Pages.Render(w, r, status, "invite", v)
}

func (h *Handler) acceptInvite(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	t, _ := condo.TenantFromContext(ctx)
	f := ui.NewForm(r.PostForm)
	password := r.PostForm.Get("password")
	if r.PostForm.Has("confirm") && password != r.PostForm.Get("confirm") {
		f.Fail("confirm", "The two passwords differ.")
		h.showInvite(w, r, http.StatusUnprocessableEntity, f)
		return
	}
	userID, err := h.store.AcceptInvitation(ctx, r.PathValue("token"), t.ID, password, accounts.ClientAddr(r))
	var ie *accounts.InputError
	msg, throttled := accounts.Throttled(w, err)
	switch {
	case errors.As(err, &ie):
		f.Fail(ie.Field, ie.Message)
		h.showInvite(w, r, http.StatusUnprocessableEntity, f)
		return
	case throttled:
		f.Message = msg
		h.showInvite(w, r, http.StatusTooManyRequests, f)
		return
	case errors.Is(err, accounts.ErrBadCredentials):
		// Worded so as not to say that the address has an account.
		f.Fail("password", "This password was not accepted. If this e-mail already has an account, enter that account's password.")
		h.showInvite(w, r, http.StatusUnprocessableEntity, f)
		return
	case errors.Is(err, accounts.ErrInvalidToken):
		h.showInvite(w, r, http.StatusNotFound, f)
		return
	case err != nil:
		h.site.Internal(w, r, err)
		return
	}
	if err := h.site.Auth.SignIn(w, r, userID, t.ID); err != nil {
		h.site.Internal(w, r, err)
		return
	}
	h.site.Redirect(w, r, "/", fmt.Sprintf("You joined %s.", t.Name))
}

type membersData struct {
	Members   []accounts.Member
	CanManage bool
	Form      *ui.Form
	// Link is a just-made invitation link, shown once ("" when it was
	// only mailed); LinkEmail is whom it is for.
	Link, LinkEmail string
	// Mailed says the invitation went by mail.
	Mailed bool
}

func (h *Handler) members(p *page) {
	h.renderMembers(p, http.StatusOK, ui.NewForm(nil), "", "")
}

func (h *Handler) renderMembers(p *page, status int, f *ui.Form, link, email string) {
	ms, err := h.store.Members(p.r.Context(), p.tenant.ID)
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	if f.Get("role") == "" {
		f.Set("role", "member")
	}
	h.site.Render(p.w, p.r, status, "members", "Members", "members", membersData{
		Members: ms, CanManage: p.state.Session.Role.CanManage(), Form: f, Link: link, LinkEmail: email,
		Mailed: email != "" && h.mail != nil,
	})
}

func (h *Handler) invite(p *page) {
	if !p.state.Session.Role.CanManage() {
		h.site.Error(p.w, p.r, http.StatusForbidden, "Not allowed", "Only owners and admins can invite members.")
		return
	}
	f := ui.NewForm(p.r.PostForm)
	if role := accounts.Role(f.Get("role")); role != accounts.RoleAdmin && role != accounts.RoleMember {
		f.Fail("role", "Choose member or admin.")
		h.renderMembers(p, http.StatusUnprocessableEntity, f, "", "")
		return
	}
	ctx := p.r.Context()
	email, role := f.Get("email"), accounts.Role(f.Get("role"))
	link := h.baseURL(p.r) + "/invite/"
	// The invitation and its mail commit together: no mail for an
	// invitation that failed, no invitation whose mail was lost.
	err := pgx.BeginFunc(ctx, h.store.Pool(), func(tx pgx.Tx) error {
		tok, err := h.store.InviteTx(ctx, tx, p.tenant.ID, email, role, p.state.Session.SubjectID)
		if err != nil {
			return err
		}
		link += tok
		if h.mail == nil {
			return nil
		}
		return h.mail.SendTx(ctx, tx, "invite", strings.TrimSpace(email),
			map[string]string{"From": p.state.Session.Email, "Role": string(role), "Link": link})
	})
	var ie *accounts.InputError
	if errors.As(err, &ie) {
		f.Fail(ie.Field, ie.Message)
		h.renderMembers(p, http.StatusUnprocessableEntity, f, "", "")
		return
	}
	if err != nil {
		h.site.Internal(p.w, p.r, err)
		return
	}
	if !h.showLink {
		link = ""
	}
	h.renderMembers(p, http.StatusCreated, ui.NewForm(nil), link, email)
}
