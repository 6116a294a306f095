package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/condomail"
	"github.com/condo-dev/condo/examples/hotels/accounts"
	"github.com/condo-dev/condo/examples/hotels/notify"
)

// mailed runs action and returns the first message it sent (the outbox
// signals each one; no polling).
func (ta *testApp) mailed(action func()) condomail.Sent {
	ta.t.Helper()
	added := ta.outbox.Added()
	action()
	select {
	case <-added:
	case <-time.After(30 * time.Second):
		ta.t.Fatal("no mail within 30 s")
	}
	return ta.outbox.Messages()[0]
}

var mailLink = regexp.MustCompile(`https?://\S+`)

// link is the one link in a mail.
func link(t testing.TB, m condomail.Sent) string {
	t.Helper()
	l := mailLink.FindString(m.Text)
	if l == "" {
		t.Fatalf("mail %q has no link:\n%s", m.Subject, m.Text)
	}
	return l
}

// TestSignupVerificationMail: a new account gets a mail, with the new
// workspace's name, whose link confirms the address (once).
func TestSignupVerificationMail(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, &appOpts{mail: true})
	c := ta.client()
	m := ta.mailed(func() {
		p := c.submit(ta.url("", "/signup"), ta.url("", "/signup"), signupForm("Sunny Stays", "sunny", "owner@example.com", testPassword))
		want(t, p, http.StatusOK, "Welcome to Sunny Stays")
	})
	if m.Subject != "Confirm your e-mail address for Sunny Stays" || m.FromName != "Sunny Stays" || m.To[0] != "owner@example.com" {
		t.Fatalf("mail: %+v", m)
	}
	l := link(t, m)
	if !strings.HasPrefix(l, ta.url("sunny", "/verify/")) {
		t.Fatalf("link %s: want one on sunny's host", l)
	}
	want(t, c.get(l), http.StatusOK, "owner@example.com is confirmed")
	want(t, c.get(l), http.StatusNotFound, "Link expired")
	var verified bool
	if err := ta.env.Pool.QueryRow(t.Context(), "SELECT email_verified_at IS NOT NULL FROM public.users WHERE email = 'owner@example.com'").Scan(&verified); err != nil || !verified {
		t.Fatalf("verified: %v, %v", verified, err)
	}
	ta.noErrors()
}

// TestInvitationMail: an invitation goes by mail, with the tenant's name
// and the inviter; its link makes the invitee a member. With split roles:
// the request path enqueues as the runtime role's shared role.
func TestInvitationMail(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, &appOpts{mail: true, runtime: true})
	ta.tenant("acme", "ann@acme.example", "Acme One")
	ann := ta.client()
	ann.login("acme", "ann@acme.example", testPassword)
	m := ta.mailed(func() {
		p := ann.submit(ta.url("acme", "/members"), ta.url("acme", "/members/invite"), url.Values{"email": {"bob@example.com"}, "role": {"member"}})
		want(t, p, http.StatusCreated, "Invitation for bob@example.com", "on its way by e-mail")
	})
	if m.Subject != "You are invited to Acme" || !strings.Contains(m.Text, "ann@acme.example invited you to join Acme as member") {
		t.Fatalf("mail: %+v", m)
	}
	bob := ta.client()
	want(t, bob.get(link(t, m)), http.StatusOK, "Join Acme")
	p := bob.submit(link(t, m), link(t, m), url.Values{"password": {"another fine password 42"}, "confirm": {"another fine password 42"}})
	want(t, p, http.StatusOK, "You joined Acme")
	ta.noErrors()
}

// TestUnlockByMail: an owner blocked by the sign-in throttle (someone
// guessed from the owner's network) gets back in with the mailed link,
// without changing the password.
func TestUnlockByMail(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, &appOpts{mail: true, pairLimit: &accounts.Limit{Max: 2, Window: time.Hour, Block: time.Hour}})
	ta.tenant("acme", "ann@acme.example", "Acme One")
	ann := ta.client()
	for range 2 {
		ann.login("acme", "ann@acme.example", "wrong password here")
	}
	want(t, ann.login("acme", "ann@acme.example", testPassword), http.StatusTooManyRequests, "Too many failed sign-ins")
	m := ta.mailed(func() {
		p := ann.submit(ta.url("acme", "/password/forgot"), ta.url("acme", "/password/forgot"), url.Values{"email": {"ann@acme.example"}})
		want(t, p, http.StatusOK, "a link to reset its password is on its way")
	})
	if m.Subject != "Reset your password for Acme" {
		t.Fatalf("mail: %+v", m)
	}
	p := ann.submit(link(t, m), link(t, m), url.Values{"unlock": {"1"}})
	want(t, p, http.StatusOK, "Your account is unlocked")
	want(t, ann.login("acme", "ann@acme.example", testPassword), http.StatusOK, "Acme One")
	// An address with no account gets the same answer, and no mail.
	p = ann.submit(ta.url("acme", "/password/forgot"), ta.url("acme", "/password/forgot"), url.Values{"email": {"nobody@acme.example"}})
	want(t, p, http.StatusOK, "a link to reset its password is on its way")
	if n := len(ta.outbox.Messages()); n != 1 {
		t.Fatalf("%d mails, want 1", n)
	}
	ta.noErrors()
}

// TestNightlyReport: the report job of one tenant (what the nightly
// fan-out enqueues) reads that tenant's hotels in its transaction and
// mails its owner.
func TestNightlyReport(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, &appOpts{mail: true})
	acme := ta.tenant("acme", "ann@acme.example", "Acme One", "Acme Two")
	ta.tenant("globex", "gus@globex.example", "Globex Tower")
	err := ta.env.Registry.InTx(t.Context(), acme, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO room (hotel_id, number, beds, price)
			SELECT id, '101', 2, 80 FROM hotel WHERE name = 'Acme One'`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	m := ta.mailed(func() {
		err := pgx.BeginFunc(t.Context(), ta.env.Pool, func(tx pgx.Tx) error {
			_, err := ta.env.Jobs.InsertForTenantTx(t.Context(), tx, acme, notify.ReportArgs{}, nil)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if m.To[0] != "ann@acme.example" || !strings.HasPrefix(m.Subject, "Acme: nightly report") || m.Tenant != "acme" {
		t.Fatalf("mail: %+v", m)
	}
	for _, s := range []string{"Acme One (Testville): 1 rooms, 2 beds, from 80.00 a night", "Acme Two (Testville): 0 rooms", "Total: 1 rooms, 2 beds"} {
		if !strings.Contains(m.Text, s) {
			t.Errorf("report lacks %q:\n%s", s, m.Text)
		}
	}
	if strings.Contains(m.Text, "Globex") {
		t.Errorf("acme's report names globex's hotel:\n%s", m.Text)
	}
	ta.noErrors()
}
