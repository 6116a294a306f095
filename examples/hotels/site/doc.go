// Package site is the reference app's public site, served on the base
// domains (example.com, www.example.com): a landing page and the signup
// that creates a tenant.
//
// # Signup
//
// The form asks for a workspace name, its address (the slug), the owner's
// e-mail and a password. The slug is checked as it is typed (a small
// optional script calls GET /signup/check, which answers JSON) and, without
// JavaScript, by the form's "Check availability" button; the signup checks
// everything again. A valid signup creates the tenant through
// [condo.Registry.Create], the same path as the CLI's "tenants create", and
// in the same transaction (its OnCreated hook) the owner's account, the
// membership and a one-time sign-in link: either all of it exists
// afterwards or none of it does. The browser is then sent to
// http(s)://slug.base/auth/handoff, where the tenant app sets its own
// host-only session cookie, so the owner lands signed in.
//
// Signups are throttled per client address.
package site
