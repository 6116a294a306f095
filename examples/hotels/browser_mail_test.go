package main

import (
	"net/http"
	"testing"
)

// A user who forgot the password asks for a link on the sign-in page,
// reads the mail on /dev/mail (development's outbox, on the admin host),
// follows its link, chooses a new password and is signed in; the old
// password no longer works.
func testBrowserPasswordReset(t *testing.T) {
	ta := newTestApp(t, &appOpts{mail: true})
	ta.tenant("acme", "ann@acme.example", "Acme Harbour Inn")
	b := newBrowser(t, ta)
	ann := b.user("ann")

	ann.open(ta.url("acme", "/login"))
	ann.click("#forgot-link")
	ann.expect("forgot-form", "Forgot your password, or is sign-in blocked")
	ann.fill("#f-email", "ann@acme.example")
	ta.mailed(func() { ann.click("#forgot-submit") })
	ann.expect("forgot-sent", "a link to reset its password is on its way")

	ann.open(ta.url("admin", "/dev/mail"))
	ann.expect("dev-mail", "Reset your password for Acme", "ann@acme.example")
	if st := ann.click("a.mail-link"); st != http.StatusOK {
		t.Fatalf("mail link: status %d", st)
	}
	ann.expect("reset-form", "Choose a new password", "ann@acme.example")
	const newPassword = "lantern orchard quietly 73"
	ann.fill("#f-password", newPassword, "#f-confirm", newPassword)
	ann.click("#reset-submit")
	if loc := ann.location(); loc != ta.url("acme", "/") {
		t.Fatalf("after the reset: on %s, want %s", loc, ta.url("acme", "/"))
	}
	ann.expect("reset-done", "Your password is changed.", "Acme Harbour Inn", "ann@acme.example")

	c := ta.client()
	want(t, c.login("acme", "ann@acme.example", testPassword), http.StatusUnauthorized)
	want(t, ta.client().login("acme", "ann@acme.example", newPassword), http.StatusOK, "Acme Harbour Inn")
	// The link worked once.
	want(t, c.get(link(t, ta.outbox.Messages()[0])), http.StatusNotFound, "Link expired")
	ta.noErrors()
}
