package accounts

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DBTX is what the store's queries run on: a pool or a transaction (such
// as the one a tenant is created in).
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// DB is what the store runs its own queries on: a pool, or with split
// roles a [condo.SharedPool], which runs them as the runtime role's
// shared role.
type DB interface {
	DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Limit is a throttling rule: Max hits within Window block the key for
// Block; with MaxBlock above Block, each further hit in the window doubles
// the block, up to MaxBlock (growing delays). Windows longer than a day
// are cut to a day (counters idle that long are swept).
type Limit struct {
	Max      int
	Window   time.Duration
	Block    time.Duration
	MaxBlock time.Duration
}

// Config configures a [Store]. A nil *Config is valid.
type Config struct {
	// Argon2 defaults to [DefaultArgon2].
	Argon2 *Argon2Params
	// MaxHashing is how many password hashes may run at once. Defaults to
	// twice the number of CPUs.
	MaxHashing int
	// SessionTTL is how long a session lasts. Defaults to 14 days.
	SessionTTL time.Duration
	// InviteTTL is how long an invitation link works. Defaults to 7 days.
	InviteTTL time.Duration
	// HandoffTTL is how long a login hand-off link works. Defaults to
	// 2 minutes.
	HandoffTTL time.Duration
	// PairLimit throttles failed logins per account and client network
	// (an IPv4 address, an IPv6 /64): what stops one guesser. Defaults to
	// 5 failures in 15 minutes, then 1 minute blocked, doubling with each
	// further failure up to an hour.
	PairLimit *Limit
	// AccountLimit slows failed logins to one account from everywhere
	// (guessers spread over many addresses); networks the account signed
	// in from lately are exempt. It must stay a delay, never a lockout:
	// defaults to 10 failures in 15 minutes, then each failure holds
	// further attempts back for 2 seconds.
	AccountLimit *Limit
	// AddressLimit throttles failed logins per client network, over all
	// accounts. Defaults to 50 failures in 15 minutes, then 1 minute
	// blocked, doubling up to an hour.
	AddressLimit *Limit
	// KnownFor is how long a network the account signed in from stays
	// exempt from AccountLimit. Defaults to 30 days.
	KnownFor time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Store keeps users, memberships, admins, sessions, throttling counters and
// invitations in the shared schema.
type Store struct {
	pool       DB
	argon      Argon2Params
	dummyHash  string
	sem        chan struct{}
	sessionTTL time.Duration
	inviteTTL  time.Duration
	handoffTTL time.Duration
	pair       Limit
	account    Limit
	address    Limit
	knownFor   time.Duration
	logger     *slog.Logger

	keyMu sync.Mutex
	key   []byte
}

// New returns a store over pool: with split roles the app's
// [condo.SharedPool] (the shared role, granted migrations.RuntimeGrants),
// the owner's pool otherwise. Signup's
// writes run in the owner's tenant-creating transaction instead (the *Tx
// methods), CreateAdmin needs the owner (the CLI's pool), and the CSRF key
// is read with [Store.LoadKey] on the owner's pool.
func New(pool DB, cfg *Config) *Store {
	if cfg == nil {
		cfg = &Config{}
	}
	s := &Store{
		pool:       pool,
		argon:      DefaultArgon2(),
		sem:        make(chan struct{}, cmp.Or(cfg.MaxHashing, 2*runtime.NumCPU())),
		sessionTTL: cmp.Or(cfg.SessionTTL, 14*24*time.Hour),
		inviteTTL:  cmp.Or(cfg.InviteTTL, 7*24*time.Hour),
		handoffTTL: cmp.Or(cfg.HandoffTTL, 2*time.Minute),
		pair:       Limit{Max: 5, Window: 15 * time.Minute, Block: time.Minute, MaxBlock: time.Hour},
		account:    Limit{Max: 10, Window: 15 * time.Minute, Block: 2 * time.Second},
		address:    Limit{Max: 50, Window: 15 * time.Minute, Block: time.Minute, MaxBlock: time.Hour},
		knownFor:   cmp.Or(cfg.KnownFor, 30*24*time.Hour),
		logger:     cmp.Or(cfg.Logger, slog.Default()),
	}
	if cfg.Argon2 != nil {
		s.argon = *cfg.Argon2
	}
	if cfg.PairLimit != nil {
		s.pair = *cfg.PairLimit
	}
	if cfg.AccountLimit != nil {
		s.account = *cfg.AccountLimit
	}
	if cfg.AddressLimit != nil {
		s.address = *cfg.AddressLimit
	}
	// Checked against when the account does not exist, so that a login
	// takes as long either way.
	s.dummyHash = HashPassword("not a password", s.argon)
	return s
}

// Pool returns what the store's queries run on.
func (s *Store) Pool() DB { return s.pool }

// hash runs HashPassword within the concurrency bound.
func (s *Store) hash(ctx context.Context, password string) (string, error) {
	if err := s.acquire(ctx); err != nil {
		return "", err
	}
	defer func() { <-s.sem }()
	return HashPassword(password, s.argon), nil
}

func (s *Store) verify(ctx context.Context, password, hash string) (bool, error) {
	if err := s.acquire(ctx); err != nil {
		return false, err
	}
	defer func() { <-s.sem }()
	return VerifyPassword(password, hash)
}

func (s *Store) acquire(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NormalizeEmail checks an e-mail address as typed and returns it trimmed.
// It returns an [*InputError] for field "email" when it is not a plain
// address (no display name) of at most 254 characters.
func NormalizeEmail(email string) (string, error) {
	e := strings.TrimSpace(email)
	bad := func(msg string) error { return &InputError{Field: "email", Message: msg} }
	switch {
	case e == "":
		return "", bad("Enter your e-mail address.")
	case len(e) > 254:
		return "", bad("Use at most 254 characters.")
	case !utf8.ValidString(e):
		return "", bad("Enter a valid e-mail address.")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" || !strings.Contains(e[strings.LastIndexByte(e, '@')+1:], ".") {
		return "", bad("Enter a valid e-mail address, like name@example.com.")
	}
	return e, nil
}

// newToken returns a random URL-safe token and its SHA-256, which is what
// the database keeps.
func newToken() (string, []byte) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	return tok, hashToken(tok)
}

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// User is a person who can sign in to tenants.
type User struct {
	ID    int64
	Email string
}

// Realm says whose accounts a login or session is about.
type Realm int

// Realms: tenant users, and platform admins (a separate table; an admin is
// not a user and the reverse).
const (
	RealmUser Realm = iota
	RealmAdmin
)

func (r Realm) String() string {
	if r == RealmAdmin {
		return "admin"
	}
	return "user"
}

func (r Realm) table() string {
	if r == RealmAdmin {
		return "public.admin_users"
	}
	return "public.users"
}

// CreateUserTx adds a user with an already checked e-mail and password on
// q. Returns [ErrEmailTaken] if the address has an account.
func (s *Store) CreateUserTx(ctx context.Context, q DBTX, email, password string) (*User, error) {
	return s.createAccount(ctx, q, RealmUser, email, password)
}

// CreateAdmin adds a platform admin. It checks the e-mail and password
// ([*InputError]) and returns [ErrEmailTaken] if the address is taken.
// It needs a store over the owner's pool (the admin command's): with split
// roles the request path may only read admin_users.
func (s *Store) CreateAdmin(ctx context.Context, email, password string) (*User, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if err := CheckPassword(password, email); err != nil {
		return nil, err
	}
	return s.createAccount(ctx, s.pool, RealmAdmin, email, password)
}

func (s *Store) createAccount(ctx context.Context, q DBTX, realm Realm, email, password string) (*User, error) {
	hash, err := s.hash(ctx, password)
	if err != nil {
		return nil, err
	}
	u := &User{Email: email}
	err = q.QueryRow(ctx, "INSERT INTO "+realm.table()+" (email, password_hash) VALUES ($1, $2) RETURNING id", email, hash).Scan(&u.ID)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == pgerrcode.UniqueViolation {
		return nil, ErrEmailTaken
	}
	if err != nil {
		return nil, fmt.Errorf("create %s %q: %w", realm, email, err)
	}
	return u, nil
}

// Session is a signed-in browser.
type Session struct {
	Realm Realm
	// SubjectID is the user's (or admin's) id.
	SubjectID int64
	Email     string
	// TenantID is the tenant whose host the session was opened on (0 on
	// the admin host).
	TenantID int64
	// Role is the user's role in the tenant the session was looked up
	// for, "" when the user is no member of it.
	Role      Role
	ExpiresAt time.Time
	tokenHash []byte
}

// Role is a user's role in a tenant.
type Role string

// Roles, from most to least powerful.
const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// CanManage reports whether the role may invite and remove members.
func (r Role) CanManage() bool { return r == RoleOwner || r == RoleAdmin }

// CreateSession opens a session for a user (or admin) on the host of
// tenantID (0 for none) and returns its token, for the cookie.
func (s *Store) CreateSession(ctx context.Context, realm Realm, subjectID, tenantID int64) (string, error) {
	tok, h := newToken()
	var user, admin, tenant any
	if realm == RealmAdmin {
		admin = subjectID
	} else {
		user = subjectID
	}
	if tenantID != 0 {
		tenant = tenantID
	}
	// Expired sessions are removed as new ones are made: no cleaner job.
	_, err := s.pool.Exec(ctx, `
		WITH gone AS (DELETE FROM public.sessions WHERE token_hash IN
			(SELECT token_hash FROM public.sessions WHERE expires_at < now() LIMIT 100))
		INSERT INTO public.sessions (token_hash, user_id, admin_id, tenant_id, expires_at)
		VALUES ($1, $2, $3, $4, now() + $5 * interval '1 microsecond')`,
		h, user, admin, tenant, s.sessionTTL.Microseconds())
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	return tok, nil
}

// LookupSession returns the live session of token in realm, with the
// user's role in tenantID. A user's session belongs to the host it was
// opened on: read for any other tenant (or, opened on a tenant, read on a
// host of none) it is [ErrNoSession], as if signed out, even when the user
// is a member there too; so a token lifted from one tenant, or replayed by
// hand on another host, opens nothing else. Returns [ErrNoSession].
func (s *Store) LookupSession(ctx context.Context, realm Realm, token string, tenantID int64) (*Session, error) {
	if token == "" || len(token) > 100 {
		return nil, ErrNoSession
	}
	sess := &Session{Realm: realm, tokenHash: hashToken(token)}
	var tenant *int64
	var role *string
	var err error
	if realm == RealmAdmin {
		err = s.pool.QueryRow(ctx, `SELECT a.id, a.email, s.expires_at FROM public.sessions s
			JOIN public.admin_users a ON a.id = s.admin_id
			WHERE s.token_hash = $1 AND s.expires_at > now()`, sess.tokenHash).Scan(&sess.SubjectID, &sess.Email, &sess.ExpiresAt)
	} else {
		err = s.pool.QueryRow(ctx, `SELECT u.id, u.email, s.tenant_id, s.expires_at, m.role FROM public.sessions s
			JOIN public.users u ON u.id = s.user_id
			LEFT JOIN public.memberships m ON m.user_id = u.id AND m.tenant_id = s.tenant_id
			WHERE s.token_hash = $1 AND s.expires_at > now()
				AND s.tenant_id IS NOT DISTINCT FROM NULLIF($2::bigint, 0)`, sess.tokenHash, tenantID).
			Scan(&sess.SubjectID, &sess.Email, &tenant, &sess.ExpiresAt, &role)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	if tenant != nil {
		sess.TenantID = *tenant
	}
	if role != nil {
		sess.Role = Role(*role)
	}
	return sess, nil
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM public.sessions WHERE token_hash = $1", hashToken(token)); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// AddMemberTx gives a user a role in a tenant on q (keeping a role the user
// already has).
func (s *Store) AddMemberTx(ctx context.Context, q DBTX, userID, tenantID int64, role Role) error {
	_, err := q.Exec(ctx, `INSERT INTO public.memberships (user_id, tenant_id, role) VALUES ($1, $2, $3)
		ON CONFLICT (user_id, tenant_id) DO NOTHING`, userID, tenantID, string(role))
	if err != nil {
		return fmt.Errorf("add member: %w", err)
	}
	return nil
}

// Role returns the user's role in the tenant, "" when the user is no
// member of it.
func (s *Store) Role(ctx context.Context, userID, tenantID int64) (Role, error) {
	var role string
	err := s.pool.QueryRow(ctx, "SELECT role FROM public.memberships WHERE user_id = $1 AND tenant_id = $2", userID, tenantID).Scan(&role)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read membership: %w", err)
	}
	return Role(role), nil
}

// Member is a user's membership of a tenant.
type Member struct {
	UserID int64
	Email  string
	Role   Role
	Since  time.Time
}

// Members lists a tenant's members, owners first.
func (s *Store) Members(ctx context.Context, tenantID int64) ([]Member, error) {
	rows, err := s.pool.Query(ctx, `SELECT u.id, u.email, m.role, m.created_at FROM public.memberships m
		JOIN public.users u ON u.id = m.user_id WHERE m.tenant_id = $1
		ORDER BY array_position(ARRAY['owner','admin','member'], m.role), lower(u.email)`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	ms, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Member, error) {
		var m Member
		err := row.Scan(&m.UserID, &m.Email, &m.Role, &m.Since)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	return ms, nil
}

// CreateHandoffTx makes a one-time token, valid for a short while, that
// signs userID in on tenantID's host (see [Store.ConsumeHandoff]): how a
// signup on the public site lands its owner signed in on the new tenant,
// whose host-only cookie the public site cannot set.
func (s *Store) CreateHandoffTx(ctx context.Context, q DBTX, userID, tenantID int64) (string, error) {
	tok, h := newToken()
	_, err := q.Exec(ctx, `INSERT INTO public.login_handoffs (token_hash, user_id, tenant_id, expires_at)
		VALUES ($1, $2, $3, now() + $4 * interval '1 microsecond')`, h, userID, tenantID, s.handoffTTL.Microseconds())
	if err != nil {
		return "", fmt.Errorf("create login hand-off: %w", err)
	}
	return tok, nil
}

// ConsumeHandoff redeems a hand-off token on tenantID's host, once, and
// returns the user to sign in. Returns [ErrInvalidToken].
func (s *Store) ConsumeHandoff(ctx context.Context, token string, tenantID int64) (int64, error) {
	var userID int64
	err := s.pool.QueryRow(ctx, `DELETE FROM public.login_handoffs
		WHERE token_hash = $1 AND tenant_id = $2 AND expires_at > now() RETURNING user_id`,
		hashToken(token), tenantID).Scan(&userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrInvalidToken
	}
	if err != nil {
		return 0, fmt.Errorf("redeem login hand-off: %w", err)
	}
	return userID, nil
}

// LoadKey reads the CSRF key on q, making it the first time (all server
// instances share it through the database). With split roles q is the
// owner's pool: the key is loaded once at start, and the runtime role the
// store's queries run as has no grant on app_secrets, so an SQL injection
// in the request path can't read it.
func (s *Store) LoadKey(ctx context.Context, q DBTX) error {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	return s.loadKey(ctx, q)
}

// secret returns the CSRF key, loading it on the store's pool if
// [Store.LoadKey] did not (one role for everything).
func (s *Store) secret(ctx context.Context) ([]byte, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if s.key == nil {
		if err := s.loadKey(ctx, s.pool); err != nil {
			return nil, err
		}
	}
	return s.key, nil
}

func (s *Store) loadKey(ctx context.Context, q DBTX) error {
	var b [32]byte
	_, _ = rand.Read(b[:])
	var key []byte
	var err error
	// A second try covers a concurrent first insert, which this
	// statement's snapshot cannot see.
	for range 2 {
		err = q.QueryRow(ctx, `WITH ins AS (INSERT INTO public.app_secrets (name, value) VALUES ('csrf', $1)
				ON CONFLICT (name) DO NOTHING RETURNING value)
			SELECT value FROM ins UNION ALL SELECT value FROM public.app_secrets WHERE name = 'csrf' LIMIT 1`, b[:]).Scan(&key)
		if !errors.Is(err, pgx.ErrNoRows) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("read csrf key: %w", err)
	}
	s.key = key
	return nil
}

// DeriveKey returns a 32-byte key for purpose, derived from the key kept
// in the database (HMAC-SHA256 under it, with a label that no CSRF token
// or other MAC input uses): the same on every instance and after a
// restart, and different for every purpose. Call it after
// [Store.LoadKey].
func (s *Store) DeriveKey(ctx context.Context, purpose string) ([]byte, error) {
	key, err := s.secret(ctx)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("derive\x00" + purpose))
	return m.Sum(nil), nil
}

// mac returns base64url(HMAC-SHA256(key, parts joined by NUL)).
func mac(key []byte, parts ...string) string {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
