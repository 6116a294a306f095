package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Token purposes in user_tokens.
const (
	purposeReset  = "reset"
	purposeVerify = "verify"
)

// Lifetimes of mailed links: a reset link is a key to the account, so it
// is short-lived; a verification link only confirms an address.
const (
	resetTTL  = time.Hour
	verifyTTL = 7 * 24 * time.Hour
)

// ResetLimit throttles reset requests per account, so that the form
// cannot fill someone's mailbox: 3 an hour.
var resetLimit = Limit{Max: 3, Window: time.Hour, Block: time.Hour}

// CreateResetTx makes a password-reset token for the account of email
// on q (the transaction that enqueues its mail), returning the token and
// the account, or "" and nil when the address has no account or asked
// for too many links lately. The caller answers the same either way, so
// the form does not tell who has an account. Returns an [*InputError]
// for an address that is not one.
func (s *Store) CreateResetTx(ctx context.Context, q DBTX, email string) (string, *User, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return "", nil, err
	}
	u := &User{}
	err = q.QueryRow(ctx, "SELECT id, email FROM public.users WHERE lower(email) = lower($1)", email).Scan(&u.ID, &u.Email)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("find user: %w", err)
	}
	if wait, err := s.take(ctx, "reset:"+strings.ToLower(u.Email), resetLimit); err != nil || wait > 0 {
		return "", nil, err
	}
	tok, err := s.createTokenTx(ctx, q, u.ID, purposeReset, resetTTL)
	if err != nil {
		return "", nil, err
	}
	return tok, u, nil
}

// CreateVerifyTx makes an e-mail verification token for userID on q (the
// signup's transaction).
func (s *Store) CreateVerifyTx(ctx context.Context, q DBTX, userID int64) (string, error) {
	return s.createTokenTx(ctx, q, userID, purposeVerify, verifyTTL)
}

func (s *Store) createTokenTx(ctx context.Context, q DBTX, userID int64, purpose string, ttl time.Duration) (string, error) {
	tok, h := newToken()
	_, err := q.Exec(ctx, `INSERT INTO public.user_tokens (token_hash, user_id, purpose, expires_at)
		VALUES ($1, $2, $3, now() + $4 * interval '1 microsecond')`, h, userID, purpose, ttl.Microseconds())
	if err != nil {
		return "", fmt.Errorf("create %s token: %w", purpose, err)
	}
	return tok, nil
}

// ResetUser returns the account a valid reset token is for, for the
// reset page. Returns [ErrInvalidToken] when it is unknown, used or
// expired.
func (s *Store) ResetUser(ctx context.Context, token string) (*User, error) {
	u := &User{}
	err := s.pool.QueryRow(ctx, `SELECT u.id, u.email FROM public.user_tokens t JOIN public.users u ON u.id = t.user_id
		WHERE t.token_hash = $1 AND t.purpose = $2 AND t.used_at IS NULL AND t.expires_at > now()`,
		hashToken(token), purposeReset).Scan(&u.ID, &u.Email)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("read reset token: %w", err)
	}
	return u, nil
}

// ResetPassword redeems a reset token, once. With a password (checked
// with [CheckPassword]) it becomes the account's and every session of the
// account ends; with password "" the password stays. Either way the
// account is unlocked for the network of addr, the one the mailed link
// was opened from: its sign-in blocks there are lifted and the network
// counts as the owner's, so a guesser elsewhere cannot keep the owner
// out. Returns the account, [ErrInvalidToken] or an [*InputError].
func (s *Store) ResetPassword(ctx context.Context, token, password, addr string) (*User, error) {
	u, err := s.ResetUser(ctx, token)
	if err != nil {
		return nil, err
	}
	var hash string
	if password != "" {
		if err := CheckPassword(password, u.Email); err != nil {
			return nil, err
		}
		if hash, err = s.hash(ctx, password); err != nil {
			return nil, err
		}
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	tag, err := tx.Exec(ctx, `UPDATE public.user_tokens SET used_at = now()
		WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()`, hashToken(token), purposeReset)
	if err != nil {
		return nil, fmt.Errorf("redeem reset token: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return nil, ErrInvalidToken // redeemed meanwhile
	}
	if hash != "" {
		if _, err := tx.Exec(ctx, "UPDATE public.users SET password_hash = $2 WHERE id = $1", u.ID, hash); err != nil {
			return nil, fmt.Errorf("set password: %w", err)
		}
		if _, err := tx.Exec(ctx, "DELETE FROM public.sessions WHERE user_id = $1", u.ID); err != nil {
			return nil, fmt.Errorf("end sessions: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("reset password: %w", err)
	}
	k := newLoginKeys(RealmUser, u.Email, addr)
	for _, key := range []string{k.pair, k.account} {
		if err := s.Reset(ctx, key); err != nil {
			return nil, err
		}
	}
	if addr != "" {
		if err := s.remember(ctx, k.known); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// VerifyEmail redeems a verification token and marks the address
// verified. Returns the address, or [ErrInvalidToken].
func (s *Store) VerifyEmail(ctx context.Context, token string) (string, error) {
	var email string
	err := s.pool.QueryRow(ctx, `WITH t AS (UPDATE public.user_tokens SET used_at = now()
			WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now() RETURNING user_id)
		UPDATE public.users u SET email_verified_at = coalesce(u.email_verified_at, now()) FROM t WHERE u.id = t.user_id RETURNING u.email`,
		hashToken(token), purposeVerify).Scan(&email)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrInvalidToken
	}
	if err != nil {
		return "", fmt.Errorf("verify e-mail: %w", err)
	}
	return email, nil
}

// Verified reports whether the account's e-mail address is verified.
func (s *Store) Verified(ctx context.Context, userID int64) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, "SELECT email_verified_at IS NOT NULL FROM public.users WHERE id = $1", userID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("read verification: %w", err)
	}
	return ok, nil
}

// Owners returns the e-mail addresses of tenantID's owners.
func (s *Store) Owners(ctx context.Context, tenantID int64) ([]string, error) {
	rows, _ := s.pool.Query(ctx, `SELECT u.email FROM public.memberships m JOIN public.users u ON u.id = m.user_id
		WHERE m.tenant_id = $1 AND m.role = 'owner' ORDER BY u.email`, tenantID)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read owners: %w", err)
	}
	return out, nil
}
