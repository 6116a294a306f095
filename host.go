package condo

import (
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
)

// MaxHostLen is the longest host name in its ASCII form (RFC 1035 minus the
// root label's length byte and the trailing dot).
const MaxHostLen = 253

// NormalizeHost turns a Host header or a user-typed domain into the form
// Condo stores and compares: lower case, no port, at most one trailing dot
// removed, IDNA labels converted to punycode (UTS #46 lookup rules, with
// golang.org/x/net/idna). It returns a [*NameError] of Kind "host" when the
// result is not a valid DNS host name of at least two labels: labels of 1
// to 63 letters, digits and hyphens not starting or ending with a hyphen, at
// most 253 characters in all, and a last label that is not all digits (so an
// IPv4 address is not a host name; neither is a bracketed IPv6 literal).
//
// A host that is already normal is returned without allocating.
func NormalizeHost(host string) (string, error) {
	h, reason := normalizeHost(host, 2)
	if reason != "" {
		return "", &NameError{Kind: "host", Name: host, Reason: reason}
	}
	return h, nil
}

// NormalizeHostHeader is [NormalizeHost] for a request's Host header,
// which may also name a one-label host such as "localhost" (development
// base domains are such hosts). It returns a [*NameError] of Kind "host"
// when host is not a valid host name; an IP address is not one.
func NormalizeHostHeader(host string) (string, error) {
	h, reason := normalizeHost(host, 1)
	if reason != "" {
		return "", &NameError{Kind: "host", Name: host, Reason: reason}
	}
	return h, nil
}

// normalizeHost is [NormalizeHost] with a minimum label count (the resolver
// accepts one-label hosts such as "localhost", to compare them with its
// base domains). It returns the host, or a non-empty reason.
func normalizeHost(host string, minLabels int) (string, string) {
	h := host
	// Strip the port. A bracketed IPv6 literal is not a name.
	if strings.HasPrefix(h, "[") {
		return "", "an IP address, not a host name"
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		port := h[i+1:]
		if len(port) > 5 {
			return "", "bad port"
		}
		for j := 0; j < len(port); j++ {
			if port[j] < '0' || port[j] > '9' {
				return "", "bad port"
			}
		}
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" {
		return "", "must not be empty"
	}
	// Fast path: plain ASCII letters, digits, hyphens and dots, with no
	// punycode label to verify, need no IDNA processing, only lower-casing.
	ascii, upper, ace := scanHost(h)
	switch {
	case ascii && !ace:
		if upper {
			h = strings.ToLower(h)
		}
	default:
		if len(h) > 4*MaxHostLen {
			return "", "too long"
		}
		a, err := idna.Lookup.ToASCII(h)
		if err != nil {
			return "", "not a valid host name (IDNA: " + idnaReason(err) + ")"
		}
		// Lookup maps to lower case already; ToLower is a no-op guard.
		h = strings.ToLower(a)
		if ascii, _, ace := scanHost(h); !ascii {
			return "", "not a valid host name"
		} else if ace {
			// A punycode label must survive a round trip unchanged, so the
			// result is a fixed point: NormalizeHost(h) == h.
			u, err := idna.Lookup.ToUnicode(h)
			if err != nil {
				return "", "not a valid host name (IDNA: " + idnaReason(err) + ")"
			}
			back, err := idna.Lookup.ToASCII(u)
			if err != nil || back != h {
				return "", "not a valid host name (punycode label not in canonical form)"
			}
		}
	}
	if reason := checkLDH(h, minLabels); reason != "" {
		return "", reason
	}
	return h, ""
}

// scanHost reports whether h is made only of ASCII letters, digits, hyphens
// and dots, whether it has upper-case letters, and whether a label starts
// with the ACE prefix "xn--" (any case).
func scanHost(h string) (ascii, upper, ace bool) {
	start := 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
		case c >= 'A' && c <= 'Z':
			upper = true
		case c == '.':
			start = i + 1
			continue
		default:
			return false, upper, ace
		}
		if i == start+3 && c == '-' && h[i-1] == '-' &&
			(h[start] == 'x' || h[start] == 'X') && (h[start+1] == 'n' || h[start+1] == 'N') {
			ace = true
		}
	}
	return true, upper, ace
}

// checkLDH checks the lower-case ASCII form of a host: the length, each
// label, the label count and a last label that is not all digits.
func checkLDH(h string, minLabels int) string {
	if len(h) > MaxHostLen {
		return "longer than 253 characters"
	}
	labels, start, digits := 1, 0, true
	for i := 0; i <= len(h); i++ {
		if i < len(h) && h[i] != '.' {
			c := h[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "character not allowed in a host name (use a-z, 0-9, - and .)"
			}
			if c < '0' || c > '9' {
				digits = false
			}
			continue
		}
		l := h[start:i]
		switch {
		case l == "":
			return "empty label"
		case len(l) > 63:
			return "label longer than 63 characters"
		case l[0] == '-' || l[len(l)-1] == '-':
			return "label starts or ends with a hyphen"
		}
		if i < len(h) {
			labels++
			start, digits = i+1, true
		}
	}
	if digits {
		return "an IP address or a numeric top-level label, not a host name"
	}
	if labels < minLabels {
		return "needs at least two labels"
	}
	return ""
}

func idnaReason(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "idna: ")
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// isIP reports whether a Host header is an IP address (with or without a
// port). Parsing is only tried when the host could be one, since a failed
// parse allocates.
func isIP(host string) bool {
	h := stripPort(host)
	if h == "" || !(h[0] == '[' || h[len(h)-1] >= '0' && h[len(h)-1] <= '9') {
		return false
	}
	_, err := netip.ParseAddr(strings.Trim(h, "[]"))
	return err == nil
}

func stripPort(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[:i+1]
		}
		return h
	}
	if strings.Count(h, ":") == 1 {
		return h[:strings.IndexByte(h, ':')]
	}
	return h
}
