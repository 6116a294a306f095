package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Invitation is a pending invitation to join a tenant.
type Invitation struct {
	TenantID int64
	Email    string
	Role     Role
	// ExpiresAt is when the link stops working. Whether the address has an
	// account is deliberately not here: the invitation page must not tell
	// (see [Store.AcceptInvitation]).
	ExpiresAt time.Time
}

// Invite makes a one-time invitation to tenantID for email with role and
// returns its token, for the link. invitedBy is the inviting user, 0 for
// a platform admin. It returns an [*InputError] for a bad e-mail or role.
// Who may grant which role is the caller's decision.
func (s *Store) Invite(ctx context.Context, tenantID int64, email string, role Role, invitedBy int64) (string, error) {
	return s.InviteTx(ctx, s.pool, tenantID, email, role, invitedBy)
}

// InviteTx is [Store.Invite] on q: the transaction that also enqueues the
// invitation's mail.
func (s *Store) InviteTx(ctx context.Context, q DBTX, tenantID int64, email string, role Role, invitedBy int64) (string, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return "", err
	}
	if role != RoleOwner && role != RoleAdmin && role != RoleMember {
		return "", &InputError{Field: "role", Message: "Choose a role."}
	}
	var by any
	if invitedBy != 0 {
		by = invitedBy
	}
	tok, h := newToken()
	_, err = q.Exec(ctx, `INSERT INTO public.invitations (token_hash, tenant_id, email, role, invited_by, expires_at)
		VALUES ($1, $2, $3, $4, $5, now() + $6 * interval '1 microsecond')`,
		h, tenantID, email, string(role), by, s.inviteTTL.Microseconds())
	if err != nil {
		return "", fmt.Errorf("create invitation: %w", err)
	}
	return tok, nil
}

// Invitation returns the pending invitation of token to tenantID. Returns
// [ErrInvalidToken] when it is unknown, used, expired or for another
// tenant.
func (s *Store) Invitation(ctx context.Context, token string, tenantID int64) (*Invitation, error) {
	inv := &Invitation{TenantID: tenantID}
	err := s.pool.QueryRow(ctx, `SELECT i.email, i.role, i.expires_at
		FROM public.invitations i
		WHERE i.token_hash = $1 AND i.tenant_id = $2 AND i.accepted_at IS NULL AND i.expires_at > now()`,
		hashToken(token), tenantID).Scan(&inv.Email, &inv.Role, &inv.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("read invitation: %w", err)
	}
	return inv, nil
}

// AcceptInvitation redeems the invitation of token to tenantID, once. The
// invitee either has an account (password is checked against it by
// [Store.SignupUser]: the login throttle, from addr) or gets one with
// password (checked with [CheckPassword]). The invitation page is the same
// either way; a wrong password for an existing account is
// [ErrBadCredentials], which the page words without saying that the
// account exists. It returns the member's user id, [ErrInvalidToken],
// [ErrBadCredentials], a [*ThrottledError] or an [*InputError].
func (s *Store) AcceptInvitation(ctx context.Context, token string, tenantID int64, password, addr string) (int64, error) {
	inv, err := s.Invitation(ctx, token, tenantID)
	if err != nil {
		return 0, err
	}
	existing, err := s.SignupUser(ctx, inv.Email, password, addr)
	if err != nil {
		return 0, err
	}
	var hash string
	if existing == nil {
		if err := CheckPassword(password, inv.Email); err != nil {
			return 0, err
		}
		if hash, err = s.hash(ctx, password); err != nil {
			return 0, err
		}
	}
	var userID int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var role string
		err := tx.QueryRow(ctx, `SELECT role FROM public.invitations
			WHERE token_hash = $1 AND tenant_id = $2 AND accepted_at IS NULL AND expires_at > now() FOR UPDATE`,
			hashToken(token), tenantID).Scan(&role)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrInvalidToken // redeemed meanwhile
		}
		if err != nil {
			return err
		}
		if existing != nil {
			userID = existing.ID
		} else {
			err := tx.QueryRow(ctx, "INSERT INTO public.users (email, password_hash) VALUES ($1, $2) RETURNING id", inv.Email, hash).Scan(&userID)
			if err != nil {
				return fmt.Errorf("create user: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, "UPDATE public.invitations SET accepted_at = now(), accepted_by = $2 WHERE token_hash = $1",
			hashToken(token), userID); err != nil {
			return err
		}
		return s.AddMemberTx(ctx, tx, userID, tenantID, Role(role))
	})
	if err != nil {
		if errors.Is(err, ErrInvalidToken) {
			return 0, err
		}
		return 0, fmt.Errorf("accept invitation: %w", err)
	}
	return userID, nil
}
