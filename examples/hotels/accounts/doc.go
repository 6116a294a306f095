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
// [CheckPassword] refuses short, common and repetitive passwords.
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
// Failed logins count per account and per client address; a key that
// reaches its limit is blocked for a while ([Limit]) and the password is
// then not even checked. The counters live in PostgreSQL, so every server
// instance enforces the same limits.
//
// # Errors
//
// Functions return [ErrBadCredentials], [ErrEmailTaken], [ErrNotMember],
// [ErrInvalidToken], a [*ThrottledError] (errors.Is [ErrThrottled]) or a
// [*InputError] for input a person must fix; anything else is internal.
package accounts
