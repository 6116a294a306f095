package accounts

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Sign-in throttling.
//
// A lockout per account ("5 wrong passwords lock the account for 15
// minutes") is a weapon: anyone who knows an address can keep its owner,
// the platform admin included, out for good. The rules here slow a guesser
// without ever refusing the owner for long:
//
//   - pair (account, client network): the guesser's own failures block
//     the guesser, with delays that double up to an hour. The owner, on
//     another network, does not share the counter.
//   - network (all accounts): one network spraying guesses over many
//     accounts is blocked the same way.
//   - account (all networks): guessers spread over many networks are
//     slowed to one failure per few seconds per account. This rule only
//     delays (a short block, never growing), and networks the account
//     signed in from lately are exempt, so the owner at home is never
//     slowed, and the owner on a fresh network waits seconds at worst.
//
// With [CheckPassword]'s strength rule (zxcvbn score 3, about 10⁸ guesses
// or more) the account rule leaves a distributed guesser ~40,000 guesses a
// day per account: years per account.
//
// Networks are IPv4 addresses and IPv6 /64s: an IPv6 client usually holds
// a whole /64 and could use a new address per guess. IPv4 is not widened
// to a /24, which would put unrelated customers of one provider in one
// bucket.
//
// Keys are stored hashed, so any input (a 3 KB e-mail address) makes a
// short key, and counting never fails after a hash has run.

// network returns the throttling network of a client address: the address
// itself for IPv4, its /64 for IPv6; other strings unchanged.
func network(addr string) string {
	if a, err := netip.ParseAddr(addr); err == nil {
		a = a.Unmap()
		if a.Is6() {
			p, _ := a.Prefix(64)
			return p.String()
		}
		return a.String()
	}
	return addr
}

// storedKey is the form a throttle key is kept in: its kind (before the
// first colon) in clear, the rest as a SHA-256.
func storedKey(key string) string {
	kind, rest, _ := strings.Cut(key, ":")
	h := sha256.Sum256([]byte(rest))
	return kind + ":" + base64.RawURLEncoding.EncodeToString(h[:])
}

func storedKeys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = storedKey(k)
	}
	return out
}

// loginKeys are the throttle keys of a sign-in to email in realm from the
// network of addr ("" when unknown).
type loginKeys struct {
	pair, account, network, known string
}

func newLoginKeys(realm Realm, email, addr string) loginKeys {
	acct := realm.String() + "\x00" + strings.ToLower(email)
	n := network(addr)
	return loginKeys{
		pair:    "pair:" + acct + "\x00" + n,
		account: "account:" + acct,
		network: "addr:" + n,
		known:   "known:" + acct + "\x00" + n,
	}
}

// Authenticate checks an e-mail and password in realm, throttled per
// (account, client network), per client network, and per account with a
// delay that networks the account signed in from lately skip (see the
// rules above); addr is the client address ("" when unknown; IPv6
// addresses count per /64). The throttle is consulted before any password
// hash runs. Returns the account, [ErrBadCredentials], or a
// [*ThrottledError] (then the password is not checked at all).
func (s *Store) Authenticate(ctx context.Context, realm Realm, email, password, addr string) (*User, error) {
	email = strings.TrimSpace(email)
	k := newLoginKeys(realm, email, addr)
	known, err := s.known(ctx, k.known)
	if err != nil {
		return nil, err
	}
	// Each rule's attempt is taken (counted, or refused while its key is
	// blocked) in one statement, before the password is looked at: so
	// concurrent guesses cannot all pass a check made before any of them
	// is counted. The attempts of a sign-in that succeeds are given back.
	type rule struct {
		key   string
		limit Limit
	}
	rules := []rule{{k.pair, s.pair}}
	if addr != "" {
		rules = append(rules, rule{k.network, s.address})
	}
	if !known {
		rules = append(rules, rule{k.account, s.account})
	}
	for _, ru := range rules {
		wait, err := s.take(ctx, ru.key, ru.limit)
		if err != nil {
			return nil, err
		}
		if wait > 0 {
			s.logger.LogAttrs(ctx, slog.LevelWarn, "login throttled", slog.String("realm", realm.String()), slog.String("addr", network(addr)))
			return nil, &ThrottledError{RetryAfter: wait}
		}
	}
	var id int64
	ok := false
	// No account has an address this long: no hash to run, only a failure
	// (counted above).
	if len(email) <= 254 && len(password) <= 4*MaxPasswordLen {
		var hash string
		err := s.pool.QueryRow(ctx, "SELECT id, email, password_hash FROM "+realm.table()+" WHERE lower(email) = lower($1)", email).Scan(&id, &email, &hash)
		if errors.Is(err, pgx.ErrNoRows) {
			hash = s.dummyHash // as slow as a real account
		} else if err != nil {
			return nil, fmt.Errorf("find %s: %w", realm, err)
		}
		if ok, err = s.verify(ctx, password, hash); err != nil {
			return nil, err
		}
	}
	if !ok || id == 0 {
		if err := s.sweep(ctx); err != nil {
			return nil, err
		}
		return nil, ErrBadCredentials
	}
	// Signed in: the pair starts over; the network and the account get
	// their attempt back (a busy office behind one address, the owner on
	// a fresh network, count only failures).
	if err := s.Reset(ctx, k.pair); err != nil {
		return nil, err
	}
	for _, ru := range rules[1:] {
		if err := s.giveBack(ctx, ru.key, ru.limit); err != nil {
			return nil, err
		}
	}
	if addr != "" {
		if err := s.remember(ctx, k.known); err != nil {
			return nil, err
		}
	}
	return &User{ID: id, Email: email}, nil
}

// known reports whether the account signed in from this network within
// KnownFor.
func (s *Store) known(ctx context.Context, key string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM public.login_known WHERE key = $1 AND seen_at > now() - $2 * interval '1 microsecond')",
		storedKey(key), s.knownFor.Microseconds()).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("read known networks: %w", err)
	}
	return ok, nil
}

// remember records a successful sign-in from a network, and forgets a few
// stale ones (no cleaner job).
func (s *Store) remember(ctx context.Context, key string) error {
	_, err := s.pool.Exec(ctx, `
		WITH gone AS (DELETE FROM public.login_known WHERE key IN
			(SELECT key FROM public.login_known WHERE seen_at < now() - $2 * interval '1 microsecond' LIMIT 100))
		INSERT INTO public.login_known (key, seen_at) VALUES ($1, now())
		ON CONFLICT (key) DO UPDATE SET seen_at = now()`, storedKey(key), s.knownFor.Microseconds())
	if err != nil {
		return fmt.Errorf("remember network: %w", err)
	}
	return nil
}

// SignupUser decides who signs up with email and password from addr: the
// existing user when the address has an account and password is its
// password (checked by [Store.Authenticate], with all its throttling), or
// nil when the address has no account yet (the caller then makes it with
// [Store.CreateUserTx], in the transaction that creates the workspace).
// It runs before any workspace is built, so a wrong guess costs no
// database work beyond the throttle's. Returns [ErrBadCredentials] or a
// [*ThrottledError] for an existing address.
func (s *Store) SignupUser(ctx context.Context, email, password, addr string) (*User, error) {
	var exists bool
	err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM public.users WHERE lower(email) = lower($1))", email).Scan(&exists)
	if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	if !exists {
		return nil, nil
	}
	return s.Authenticate(ctx, RealmUser, email, password, addr)
}

// Blocked returns how long the longest block among keys still lasts, 0 if
// none is blocked. Keys are "kind:anything"; any length is fine.
func (s *Store) Blocked(ctx context.Context, keys ...string) (time.Duration, error) {
	var secs float64
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(max(extract(epoch FROM blocked_until - now())), 0)::float8
		FROM public.throttle WHERE key = ANY($1) AND blocked_until > now()`, storedKeys(keys)).Scan(&secs)
	if err != nil {
		return 0, fmt.Errorf("read throttle: %w", err)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// countSQL counts one event for key $1 under a limit ($2 Max, $3 Window,
// $4 Block, $5 MaxBlock, in microseconds), blocking the key when it
// reaches Max within Window, for Block doubled per further event up to
// MaxBlock.
const countSQL = `
	INSERT INTO public.throttle AS t (key, hits, window_start, blocked_until)
	VALUES ($1, 1, now(), CASE WHEN $2 <= 1 THEN now() + $4 * interval '1 microsecond' END)
	ON CONFLICT (key) DO UPDATE SET
		hits = CASE WHEN t.window_start < now() - $3 * interval '1 microsecond' THEN 1 ELSE t.hits + 1 END,
		window_start = CASE WHEN t.window_start < now() - $3 * interval '1 microsecond' THEN now() ELSE t.window_start END,
		blocked_until = CASE
			WHEN (CASE WHEN t.window_start < now() - $3 * interval '1 microsecond' THEN 1 ELSE t.hits + 1 END) >= $2
			THEN now() + least(greatest($5::float8, $4::float8),
				$4::float8 * power(2::float8, least((CASE WHEN t.window_start < now() - $3 * interval '1 microsecond' THEN 1 ELSE t.hits + 1 END) - $2, 40)))
				* interval '1 microsecond'
			ELSE t.blocked_until END`

func limitArgs(key string, l Limit) []any {
	return []any{storedKey(key), l.Max, l.Window.Microseconds(), l.Block.Microseconds(), l.MaxBlock.Microseconds()}
}

// Hit counts one event for key under limit l, blocking the key when it
// reaches l.Max within l.Window (for a block that doubles with each
// further hit, up to l.MaxBlock).
func (s *Store) Hit(ctx context.Context, key string, l Limit) error {
	if _, err := s.pool.Exec(ctx, countSQL, limitArgs(key, l)...); err != nil {
		return fmt.Errorf("count %s: %w", strings.SplitN(key, ":", 2)[0], err)
	}
	return nil
}

// Take is the atomic form of [Store.Blocked] then [Store.Hit]: it counts
// one attempt on key under l and returns 0 when the attempt may go ahead,
// or, leaving the count alone, how long key is still blocked. Concurrent
// attempts are serialised on the key's row, so a burst cannot pass a
// check made before any of it was counted.
func (s *Store) Take(ctx context.Context, key string, l Limit) (time.Duration, error) {
	return s.take(ctx, key, l)
}

func (s *Store) take(ctx context.Context, key string, l Limit) (time.Duration, error) {
	var taken bool
	var secs float64
	// The update's WHERE is evaluated on the latest row version, under
	// its lock; the fallback wait covers a row the statement's snapshot
	// cannot see yet.
	err := s.pool.QueryRow(ctx, `WITH up AS (`+countSQL+`
		WHERE t.blocked_until IS NULL OR t.blocked_until <= now()
		RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM up),
			COALESCE((SELECT extract(epoch FROM blocked_until - now()) FROM public.throttle WHERE key = $1), 0)::float8`,
		limitArgs(key, l)...).Scan(&taken, &secs)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", strings.SplitN(key, ":", 2)[0], err)
	}
	if taken {
		return 0, nil
	}
	return max(time.Duration(secs*float64(time.Second)), time.Second), nil
}

// sweep forgets a few counters that no longer matter (no cleaner job):
// their window began over a day ago, longer than any limit's window, and
// they block nothing, so a new attempt would start them over anyway.
// Guessers with made-up addresses would otherwise grow the table for good.
func (s *Store) sweep(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM public.throttle WHERE key IN (
		SELECT key FROM public.throttle WHERE window_start < now() - interval '1 day'
			AND (blocked_until IS NULL OR blocked_until < now()) LIMIT 100)`)
	if err != nil {
		return fmt.Errorf("sweep throttle: %w", err)
	}
	return nil
}

// giveBack returns an attempt taken on key (a sign-in that succeeded),
// lifting a block that attempt set.
func (s *Store) giveBack(ctx context.Context, key string, l Limit) error {
	_, err := s.pool.Exec(ctx, `UPDATE public.throttle SET hits = hits - 1,
			blocked_until = CASE WHEN hits - 1 < $2 THEN NULL ELSE blocked_until END
		WHERE key = $1 AND hits > 0`, storedKey(key), l.Max)
	if err != nil {
		return fmt.Errorf("give back %s: %w", strings.SplitN(key, ":", 2)[0], err)
	}
	return nil
}

// Reset forgets key's events (a successful login).
func (s *Store) Reset(ctx context.Context, key string) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM public.throttle WHERE key = $1", storedKey(key)); err != nil {
		return fmt.Errorf("reset throttle: %w", err)
	}
	return nil
}
