package condo

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

// randomToken returns 160 random bits as lower-case base32, usable in DNS
// labels and URLs.
func randomToken() string {
	var b [20]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}
