package condo

import (
	"net"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
)

// NormalizeHost turns a Host header or a user-typed domain into the form
// Condo stores and compares: lower case, no port, no trailing dot, IDNA
// labels in punycode. It returns a [*NameError] when the result is not a
// valid DNS host name of at least two labels.
func NormalizeHost(host string) (string, error) {
	bad := func(reason string) error { return &NameError{Kind: "host", Name: host, Reason: reason} }
	h := host
	if hp, port, err := net.SplitHostPort(h); err == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return "", bad("invalid port")
		}
		h = hp
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" {
		return "", bad("must not be empty")
	}
	a, err := idna.Lookup.ToASCII(h)
	if err != nil {
		return "", bad("not a valid host name")
	}
	a = strings.ToLower(a)
	if len(a) > 253 {
		return "", bad("longer than 253 characters")
	}
	labels := strings.Split(a, ".")
	if len(labels) < 2 {
		return "", bad("needs at least two labels")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", bad("not a valid host name")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", bad("not a valid host name")
			}
		}
	}
	return a, nil
}
