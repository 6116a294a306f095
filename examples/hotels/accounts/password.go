package accounts

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"golang.org/x/crypto/argon2"
)

// Argon2Params are argon2id's cost parameters.
type Argon2Params struct {
	// Time is the number of passes. Defaults to 2.
	Time uint32
	// MemoryKiB is the memory used, in KiB. Defaults to 19456 (19 MiB).
	MemoryKiB uint32
	// Threads defaults to 1.
	Threads uint8
}

// DefaultArgon2 returns OWASP's recommended minimum for argon2id (19 MiB,
// two passes, one thread): about 30 ms on one core.
func DefaultArgon2() Argon2Params { return Argon2Params{Time: 2, MemoryKiB: 19 * 1024, Threads: 1} }

const (
	saltLen = 16
	keyLen  = 32
	// MinPasswordLen and MaxPasswordLen bound passwords, in characters.
	MinPasswordLen = 10
	MaxPasswordLen = 200
)

// HashPassword returns the argon2id hash of password in PHC form:
// $argon2id$v=19$m=...,t=...,p=...$salt$hash.
func HashPassword(password string, p Argon2Params) string {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt) // crypto/rand never fails on supported platforms
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, enc.EncodeToString(salt), enc.EncodeToString(key))
}

// VerifyPassword reports whether password matches a hash made by
// [HashPassword], with the parameters recorded in the hash. It compares in
// constant time.
func VerifyPassword(password, hash string) (bool, error) {
	errBadHash := errors.New("unrecognised password hash")
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var p Argon2Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return false, errBadHash
	}
	if p.Time == 0 || p.Threads == 0 || p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > 1<<20 {
		return false, errBadHash
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// MinPasswordScore is the zxcvbn score (0 to 4) a new password needs: 3
// means an estimated 10⁸ guesses or more, out of reach of an online
// guesser under the login throttle.
const MinPasswordScore = 3

// CheckPassword returns an [*InputError] for field "password" when
// password is too weak: shorter than [MinPasswordLen] characters, longer
// than [MaxPasswordLen], or easier to guess than [MinPasswordScore] by the
// zxcvbn estimator (github.com/trustelem/zxcvbn: its frequency lists of
// leaked passwords, names and words, keyboard patterns, repeats,
// sequences, dates and l33t substitutions), with the e-mail address and
// the product's name as words a guesser would try first.
func CheckPassword(password, email string) error {
	bad := func(msg string) error { return &InputError{Field: "password", Message: msg} }
	n := utf8.RuneCountInString(password)
	switch {
	case !utf8.ValidString(password):
		return bad("The password is not valid text.")
	case n < MinPasswordLen:
		return bad(fmt.Sprintf("Use at least %d characters.", MinPasswordLen))
	case n > MaxPasswordLen:
		return bad(fmt.Sprintf("Use at most %d characters.", MaxPasswordLen))
	}
	inputs := []string{"hotels", "condo"}
	if email != "" {
		inputs = append(inputs, strings.ToLower(email))
		if local, domain, ok := strings.Cut(strings.ToLower(email), "@"); ok {
			inputs = append(inputs, local, domain)
			inputs = append(inputs, strings.FieldsFunc(local+"."+domain, func(r rune) bool { return r == '.' || r == '_' || r == '-' || r == '+' })...)
			// zxcvbn rates a user input with a symbol or two around it
			// as fair; a guesser tries those first.
			if len(local) >= 4 && strings.Contains(strings.ToLower(password), local) {
				return bad("The password must not contain your e-mail address.")
			}
		}
	}
	if zxcvbn.PasswordStrength(password, inputs).Score < MinPasswordScore {
		return bad("This password is too easy to guess: it is common, or built on a word, a name, a pattern or your e-mail address. Add a few uncommon words.")
	}
	return nil
}
