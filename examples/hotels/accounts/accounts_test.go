package accounts_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
	"github.com/condo-dev/condo/examples/hotels/accounts"
	"github.com/condo-dev/condo/examples/hotels/migrations"
)

// cheap keeps argon2 fast in tests; the format and the code path are the
// same as in production.
func cheap() *accounts.Argon2Params {
	return &accounts.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}
}

// newStore returns a store over a fresh database with the app's shared
// migrations, and a registry to make tenants with.
func newStore(t *testing.T, cfg *accounts.Config) (*accounts.Store, *condo.Registry) {
	t.Helper()
	db := condotest.NewDatabaseInfo(t, nil)
	m, err := condomigrate.New(db.Pool, &condomigrate.Config{Shared: migrations.Shared(), Tenant: migrations.Tenant(), Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.MigrateShared(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if cfg == nil {
		cfg = &accounts.Config{}
	}
	cfg.Argon2 = cheap()
	cfg.Logger = condotest.Logger(t)
	return accounts.New(db.Pool, cfg), condo.NewRegistry(db.Pool, m, &condo.RegistryConfig{Logger: condotest.Logger(t)})
}

func createUser(t *testing.T, s *accounts.Store, email string) *accounts.User {
	t.Helper()
	u, err := s.CreateUserTx(t.Context(), s.Pool(), email, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	p := accounts.Argon2Params{Time: 1, MemoryKiB: 1024, Threads: 1}
	h := accounts.HashPassword("s3cret pass", p)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string", h)
	}
	if h2 := accounts.HashPassword("s3cret pass", p); h2 == h {
		t.Fatal("two hashes of one password are equal: no salt?")
	}
	for _, tc := range []struct {
		name, password, hash string
		want                 bool
		wantErr              bool
	}{
		{"right", "s3cret pass", h, true, false},
		{"wrong", "s3cret pas", h, false, false},
		{"empty", "", h, false, false},
		{"not argon2id", "x", "$2a$10$abcdefghijklmnopqrstuv", false, true},
		{"garbage", "x", "$argon2id$v=19$m=huge$a$b", false, true},
		{"absurd memory", "x", "$argon2id$v=19$m=999999999,t=1,p=1$c2FsdA$aGFzaA", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := accounts.VerifyPassword(tc.password, tc.hash)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Fatalf("VerifyPassword = %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		password, email string
		ok              bool
	}{
		{"correct horse battery", "a@example.com", true},
		{"short", "a@example.com", false},
		{"password123", "a@example.com", false},
		{"PASSWORD123", "a@example.com", false},
		{"aaaaaaaaaaaaaaaa", "a@example.com", false},
		{"ababababababab", "a@example.com", false},
		{"johnsmith-1990!", "johnsmith@example.com", false},
		{strings.Repeat("long pass ", 30), "a@example.com", false},
	} {
		err := accounts.CheckPassword(tc.password, tc.email)
		var ie *accounts.InputError
		if tc.ok != (err == nil) || err != nil && (!errors.As(err, &ie) || ie.Field != "password") {
			t.Errorf("CheckPassword(%q) = %v, want ok=%v", tc.password, err, tc.ok)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	for in, ok := range map[string]bool{
		" ann@example.com ":                     true,
		"ann@localhost":                         false,
		"Ann <ann@example.com>":                 false,
		"ann":                                   false,
		"":                                      false,
		strings.Repeat("a", 250) + "@e.com":     false,
		"ann@exa mple.com":                      false,
		"ann@example.com\r\nBcc: x@example.com": false,
	} {
		_, err := accounts.NormalizeEmail(in)
		if (err == nil) != ok {
			t.Errorf("NormalizeEmail(%q) = %v, want ok=%v", in, err, ok)
		}
	}
}

// The account is blocked after AccountLimit failures: then even the right
// password is not accepted (and not checked) until the block ends. The
// address limit blocks a guesser who spreads over many accounts.
func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _ := newStore(t, &accounts.Config{
		AccountLimit: &accounts.Limit{Max: 3, Window: time.Minute, Block: time.Minute},
		AddressLimit: &accounts.Limit{Max: 5, Window: time.Minute, Block: time.Minute},
	})
	createUser(t, s, "ann@example.com")
	for i := range 3 {
		if _, err := s.Authenticate(ctx, accounts.RealmUser, "ann@example.com", "wrong password", "10.0.0.1"); !errors.Is(err, accounts.ErrBadCredentials) {
			t.Fatalf("attempt %d: got %v, want ErrBadCredentials", i+1, err)
		}
	}
	_, err := s.Authenticate(ctx, accounts.RealmUser, "ANN@example.com", "correct horse battery", "10.0.0.2")
	var te *accounts.ThrottledError
	if !errors.As(err, &te) || te.RetryAfter <= 0 || te.RetryAfter > time.Minute {
		t.Fatalf("after 3 failures: got %v, want a ThrottledError of up to a minute", err)
	}
	// Another account from a fresh address is not affected.
	createUser(t, s, "bob@example.com")
	if _, err := s.Authenticate(ctx, accounts.RealmUser, "bob@example.com", "correct horse battery", "10.0.0.3"); err != nil {
		t.Fatalf("bob: %v", err)
	}
	// One address guessing across accounts (unknown ones too).
	for i, email := range []string{"c1@example.com", "c2@example.com", "c3@example.com", "c4@example.com", "c5@example.com"} {
		if _, err := s.Authenticate(ctx, accounts.RealmUser, email, "x", "10.0.0.9"); !errors.Is(err, accounts.ErrBadCredentials) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if _, err := s.Authenticate(ctx, accounts.RealmUser, "bob@example.com", "correct horse battery", "10.0.0.9"); !errors.Is(err, accounts.ErrThrottled) {
		t.Fatalf("address over its limit: got %v, want ErrThrottled", err)
	}
	// Admins are another realm: ann's block does not touch an admin ann.
	if _, err := s.CreateAdmin(ctx, "ann@example.com", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, accounts.RealmAdmin, "ann@example.com", "correct horse battery", "10.0.0.4"); err != nil {
		t.Fatalf("admin ann: %v", err)
	}
}

// Sessions carry the user's role in the tenant they were opened on, and
// open nothing on another tenant's host.
func TestSessionsAndRoles(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, reg := newStore(t, nil)
	acme, err := reg.Create(ctx, condo.CreateParams{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	globex, err := reg.Create(ctx, condo.CreateParams{Slug: "globex", Name: "Globex"})
	if err != nil {
		t.Fatal(err)
	}
	u := createUser(t, s, "ann@example.com")
	if err := s.AddMemberTx(ctx, s.Pool(), u.ID, acme.ID, accounts.RoleOwner); err != nil {
		t.Fatal(err)
	}
	tok, err := s.CreateSession(ctx, accounts.RealmUser, u.ID, acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := s.LookupSession(ctx, accounts.RealmUser, tok, acme.ID)
	if err != nil || sess.Role != accounts.RoleOwner || sess.Email != "ann@example.com" {
		t.Fatalf("in acme: %+v, %v; want owner ann", sess, err)
	}
	// A session belongs to the host it was made on: ann is a member of
	// globex too, and still the acme session is no session there (nor on
	// a host of no tenant).
	if err := s.AddMemberTx(ctx, s.Pool(), u.ID, globex.ID, accounts.RoleOwner); err != nil {
		t.Fatal(err)
	}
	for name, id := range map[string]int64{"globex": globex.ID, "no tenant": 0} {
		if sess, err := s.LookupSession(ctx, accounts.RealmUser, tok, id); !errors.Is(err, accounts.ErrNoSession) {
			t.Fatalf("acme session read on %s: %+v, %v; want ErrNoSession", name, sess, err)
		}
	}
	if sess, err := s.LookupSession(ctx, accounts.RealmUser, tok, acme.ID); err != nil || sess.TenantID != acme.ID {
		t.Fatalf("back in acme: %+v, %v", sess, err)
	}
	// A user token is no admin token.
	if _, err := s.LookupSession(ctx, accounts.RealmAdmin, tok, 0); !errors.Is(err, accounts.ErrNoSession) {
		t.Fatalf("user token as admin: %v, want ErrNoSession", err)
	}
	if err := s.DeleteSession(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupSession(ctx, accounts.RealmUser, tok, acme.ID); !errors.Is(err, accounts.ErrNoSession) {
		t.Fatalf("after delete: %v, want ErrNoSession", err)
	}
	// Only the token's hash is stored.
	var n int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM public.sessions WHERE token_hash = $1::bytea", []byte(tok)).Scan(&n); err != nil || n != 0 {
		t.Fatalf("raw token found in the table: %d, %v", n, err)
	}
}

func TestHandoffOnceAndOnlyForItsTenant(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, reg := newStore(t, nil)
	acme, _ := reg.Create(ctx, condo.CreateParams{Slug: "acme", Name: "Acme"})
	globex, _ := reg.Create(ctx, condo.CreateParams{Slug: "globex", Name: "Globex"})
	u := createUser(t, s, "ann@example.com")
	tok, err := s.CreateHandoffTx(ctx, s.Pool(), u.ID, acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConsumeHandoff(ctx, tok, globex.ID); !errors.Is(err, accounts.ErrInvalidToken) {
		t.Fatalf("on another tenant: %v, want ErrInvalidToken", err)
	}
	if id, err := s.ConsumeHandoff(ctx, tok, acme.ID); err != nil || id != u.ID {
		t.Fatalf("first use: %d, %v", id, err)
	}
	if _, err := s.ConsumeHandoff(ctx, tok, acme.ID); !errors.Is(err, accounts.ErrInvalidToken) {
		t.Fatalf("second use: %v, want ErrInvalidToken", err)
	}
}

func TestInvitation(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, reg := newStore(t, nil)
	acme, _ := reg.Create(ctx, condo.CreateParams{Slug: "acme", Name: "Acme"})
	globex, _ := reg.Create(ctx, condo.CreateParams{Slug: "globex", Name: "Globex"})
	owner := createUser(t, s, "owner@example.com")

	// A new person: sets a password, becomes a member, once.
	tok, err := s.Invite(ctx, acme.ID, "new@example.com", accounts.RoleMember, owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Invitation(ctx, tok, globex.ID); !errors.Is(err, accounts.ErrInvalidToken) {
		t.Fatalf("invitation read on another tenant: %v", err)
	}
	var ie *accounts.InputError
	if _, err := s.AcceptInvitation(ctx, tok, acme.ID, "weak", ""); !errors.As(err, &ie) {
		t.Fatalf("weak password: %v, want InputError", err)
	}
	id, err := s.AcceptInvitation(ctx, tok, acme.ID, "a fine passphrase", "")
	if err != nil {
		t.Fatal(err)
	}
	if role, err := s.Role(ctx, id, acme.ID); err != nil || role != accounts.RoleMember {
		t.Fatalf("role = %q, %v; want member", role, err)
	}
	if _, err := s.AcceptInvitation(ctx, tok, acme.ID, "a fine passphrase", ""); !errors.Is(err, accounts.ErrInvalidToken) {
		t.Fatalf("second use: %v, want ErrInvalidToken", err)
	}

	// Someone with an account: must give that account's password.
	tok, _ = s.Invite(ctx, globex.ID, "owner@example.com", accounts.RoleAdmin, 0)
	inv, err := s.Invitation(ctx, tok, globex.ID)
	if err != nil || !inv.HasAccount {
		t.Fatalf("invitation: %+v, %v; want HasAccount", inv, err)
	}
	if _, err := s.AcceptInvitation(ctx, tok, globex.ID, "not the password", ""); !errors.Is(err, accounts.ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if id, err := s.AcceptInvitation(ctx, tok, globex.ID, "correct horse battery", ""); err != nil || id != owner.ID {
		t.Fatalf("accept with the account's password: %d, %v", id, err)
	}
}

// signupTx is SignupUserTx in a transaction: a new address makes a user;
// an existing one needs its password.
func TestSignupUser(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _ := newStore(t, nil)
	ann := createUser(t, s, "ann@example.com")
	try := func(email, password string) (*accounts.User, error) {
		var u *accounts.User
		err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
			var err error
			u, err = s.SignupUserTx(ctx, tx, email, password)
			return err
		})
		return u, err
	}
	if u, err := try("Ann@Example.com", "correct horse battery"); err != nil || u.ID != ann.ID {
		t.Fatalf("existing user, right password: %+v, %v", u, err)
	}
	if _, err := try("ann@example.com", "another password"); !errors.Is(err, accounts.ErrEmailTaken) {
		t.Fatalf("existing user, wrong password: %v, want ErrEmailTaken", err)
	}
	if u, err := try("bob@example.com", "another password"); err != nil || u.ID == ann.ID {
		t.Fatalf("new user: %+v, %v", u, err)
	}
}

// The middleware refuses unsafe requests without the page's token, a
// token of another host or of another visitor, and oversized bodies; the
// handler then never runs.
func TestCSRF(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, nil)
	auth := accounts.NewAuth(s, &accounts.AuthConfig{MaxBodyBytes: 1024})
	var posted int
	srv := httptest.NewServer(auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posted++
		}
		io.WriteString(w, `<input name="csrf" value="`+accounts.StateFrom(r.Context()).CSRF+`">`)
	})))
	t.Cleanup(srv.Close)
	re := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	newClient := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar}
	}
	token := func(c *http.Client, host string) string {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Host = host
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := re.FindSubmatch(b)
		if m == nil {
			t.Fatalf("no token in %q", b)
		}
		return string(m[1])
	}
	post := func(c *http.Client, host, body string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		req.Host = host
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	alice, mallory := newClient(), newClient()
	good := token(alice, "acme.example.com")
	otherHost := token(alice, "globex.example.com")
	mallorys := token(mallory, "acme.example.com")
	for _, tc := range []struct {
		name string
		body string
		want int
	}{
		{"no token", "name=x", http.StatusForbidden},
		{"forged token", "csrf=AAAA&name=x", http.StatusForbidden},
		{"token of another host", "csrf=" + url.QueryEscape(otherHost), http.StatusForbidden},
		{"token of another visitor", "csrf=" + url.QueryEscape(mallorys), http.StatusForbidden},
		{"oversized body", "csrf=" + url.QueryEscape(good) + "&name=" + strings.Repeat("x", 2000), http.StatusRequestEntityTooLarge},
		{"good", "csrf=" + url.QueryEscape(good) + "&name=x", http.StatusOK},
	} {
		if got := post(alice, "acme.example.com", tc.body); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	if posted != 1 {
		t.Fatalf("handler ran %d times, want once (the good request)", posted)
	}
}

func TestThrottled(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	msg, ok := accounts.Throttled(rec, fmt.Errorf("sign in: %w", &accounts.ThrottledError{RetryAfter: 90 * time.Second}))
	if !ok || msg != "Too many failed sign-ins. Try again in 2 minutes." || rec.Header().Get("Retry-After") != "91" {
		t.Errorf("throttled: %q, %v, Retry-After %q", msg, ok, rec.Header().Get("Retry-After"))
	}
	rec = httptest.NewRecorder()
	if msg, ok := accounts.Throttled(rec, accounts.ErrBadCredentials); ok || msg != "" || rec.Header().Get("Retry-After") != "" {
		t.Errorf("bad credentials taken for throttling: %q, %v", msg, ok)
	}
}
