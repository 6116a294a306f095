package accounts

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrBadCredentials: no such account, or the wrong password. The two
	// are not told apart.
	ErrBadCredentials = errors.New("wrong e-mail or password")
	// ErrEmailTaken: an account with that e-mail exists (and the password
	// given is not its password).
	ErrEmailTaken = errors.New("e-mail already has an account")
	// ErrNotMember: the user has no membership in the tenant.
	ErrNotMember = errors.New("not a member of this tenant")
	// ErrNoSession: the session token is unknown or expired.
	ErrNoSession = errors.New("no session")
	// ErrInvalidToken: a one-time token (invitation, login hand-off) is
	// unknown, used, expired or for another tenant.
	ErrInvalidToken = errors.New("invalid or expired link")
	// ErrThrottled is matched by every [*ThrottledError].
	ErrThrottled = errors.New("too many attempts")
)

// ThrottledError says that an action is blocked for a while.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many attempts: retry in %s", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// Minutes is RetryAfter in whole minutes, at least 1, for messages.
func (e *ThrottledError) Minutes() int {
	return max(1, int((e.RetryAfter+time.Minute-1)/time.Minute))
}

// InputError is input a person must fix, with a message for them about
// one form field.
type InputError struct {
	Field   string
	Message string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Message }
