package condocert

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
)

// KeyEnv is the environment variable [LoadKey] reads the storage
// encryption key from when no key file is given.
const KeyEnv = "CONDO_CERT_KEY"

// ErrNoKey is returned by [LoadKey] when neither a key file nor the
// environment variable [KeyEnv] is set.
var ErrNoKey = errors.New("no certificate storage key: set " + KeyEnv + " or give a key file")

// LoadKey returns the 32-byte storage encryption key, read from file if
// file is not empty and otherwise from the environment variable [KeyEnv]
// (looked up with getenv, usually os.Getenv). The key is written as 64 hex
// digits or in standard base64 (as printed by [NewKey]); a file may also
// hold the 32 raw bytes. Errors never contain the key. Returns [ErrNoKey]
// when no key is set.
func LoadKey(file string, getenv func(string) string) ([]byte, error) {
	var raw []byte
	src := "$" + KeyEnv
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read certificate storage key: %w", err)
		}
		if len(b) == 32 {
			return b, nil
		}
		raw, src = b, file
	case getenv != nil && getenv(KeyEnv) != "":
		raw = []byte(getenv(KeyEnv))
	default:
		return nil, ErrNoKey
	}
	key, err := ParseKey(string(bytes.TrimSpace(raw)))
	if err != nil {
		return nil, fmt.Errorf("certificate storage key from %s: %w", src, err)
	}
	return key, nil
}

// ParseKey decodes a 32-byte key written as 64 hex digits or in standard
// base64.
func ParseKey(s string) ([]byte, error) {
	if len(s) == 64 {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(k) != 32 {
		// Not wrapping err: base64 errors quote input positions, never
		// the input, but keep the message independent of the secret.
		return nil, errors.New("want 32 bytes as 64 hex digits or base64")
	}
	return k, nil
}

// NewKey returns a new random storage encryption key in base64, for
// $CONDO_CERT_KEY or a key file.
func NewKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}
