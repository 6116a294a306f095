// Package accounts is the reference app's people: users (global, in the
// shared schema) and their memberships of tenants, platform admins,
// server-side sessions, login throttling, invitations and CSRF protection.
//
// # Passwords
//
// Passwords are hashed with argon2id ([HashPassword], RFC 9106) and stored
// in PHC string form, so the parameters can be raised later without
// breaking old hashes. Hashing is memory-hard on purpose; [Store] bounds
// how many hashes run at once so a burst of logins cannot exhaust memory.
// [CheckPassword] judges strength with zxcvbn (github.com/trustelem/zxcvbn,
// a Go port of Dropbox's estimator with its frequency lists) and refuses
// passwords below score 3.
//
// # Sessions
//
// A session is a row in PostgreSQL named by the SHA-256 of a random token;
// the token travels only in a host-only cookie (no Domain attribute, so
// acme.example.com's cookie is never sent to globex.example.com), HttpOnly,
// SameSite=Lax, and Secure with the __Host- prefix on HTTPS. A session
// belongs to the tenant whose host it was opened on: read on any other
// host it is no session (signed out), even for a user who is a member of
// both, so a token copied from one tenant opens nothing in another. Every
// request reads the session together with the user's role in that tenant;
// the tenant app answers 403 when [Session].Role is empty (a membership
// removed since).
//
// # Forms
//
// [Auth.Middleware] checks a CSRF token on every unsafe request (POST,
// PUT, PATCH, DELETE): an HMAC, under a key kept in the database, of the
// host and of the session (or, before login, of a random cookie). It also
// bounds request bodies. Handlers put [State].CSRF in every form.
//
// # Throttling
//
// Failed sign-ins count per (account, client network), per network, and
// per account; IPv6 clients count per /64. The first two block the
// guesser with delays that double; the per-account rule only ever delays
// (seconds), and networks the account signed in from lately skip it, so
// guessing cannot lock the owner out ([Store.Authenticate] explains the
// rules). The throttle is consulted before any password hash runs, and
// keys are stored hashed, so no input can make counting fail. Signup and
// invitations with an address that has an account go through the same
// throttle ([Store.SignupUser]). The counters live in PostgreSQL, so
// every server instance enforces the same limits.
//
// # Mailed links
//
// A password reset ([Store.CreateResetTx], at most 3 an hour per account)
// and the e-mail verification sent at signup ([Store.CreateVerifyTx]) are
// one-time tokens kept as SHA-256s in user_tokens, made in the
// transaction that enqueues their mail. Redeeming a reset
// ([Store.ResetPassword]) sets a new password and ends the account's
// sessions, or with no password only unlocks: either way the sign-in
// blocks of the account from the network the link is opened on are
// lifted and that network counts as the owner's, so a guesser elsewhere
// can't keep an owner who reads their mail out. The form that asks for a
// reset answers the same whether or not the address has an account.
//
// # Input
//
// [Auth.Middleware] answers 400 to any query or form field (names too)
// that is not valid UTF-8 or holds a NUL byte ([ValidText]), before a
// handler can pass it to PostgreSQL.
//
// # Errors
//
// Functions return [ErrBadCredentials], [ErrEmailTaken], [ErrNotMember],
// [ErrInvalidToken], a [*ThrottledError] (errors.Is [ErrThrottled]) or a
// [*InputError] for input a person must fix; anything else is internal.
package accounts
