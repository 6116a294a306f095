package condohttp

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies is the set of networks whose forwarding headers (one
// family: X-Forwarded-For, -Host, -Proto, or Forwarded; see
// [ForwardedHeaders]) Condo believes. From any
// other peer those headers are removed from the request before a handler
// sees them, so a client can't pick its tenant, its address or its scheme
// by sending them. The zero value and nil trust nobody.
type TrustedProxies struct {
	prefixes []netip.Prefix
}

// ParseTrustedProxies parses networks in CIDR form ("10.0.0.0/8"), single
// addresses ("192.0.2.7", "::1") and the words "loopback" (127.0.0.0/8 and
// ::1) and "private" (RFC 1918 and fc00::/7). It returns every bad entry at
// once, joined.
func ParseTrustedProxies(list []string) (*TrustedProxies, error) {
	p := &TrustedProxies{}
	var errs []error
	for _, s := range list {
		s = strings.TrimSpace(s)
		switch s {
		case "":
			continue
		case "loopback":
			p.prefixes = append(p.prefixes, netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
			continue
		case "private":
			for _, c := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"} {
				p.prefixes = append(p.prefixes, netip.MustParsePrefix(c))
			}
			continue
		}
		if strings.Contains(s, "/") {
			pr, err := netip.ParsePrefix(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("trusted proxy %q: %w", s, err))
				continue
			}
			p.prefixes = append(p.prefixes, pr.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("trusted proxy %q: not an address or network", s))
			continue
		}
		a = a.Unmap()
		p.prefixes = append(p.prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// Contains reports whether a is in a trusted network.
func (p *TrustedProxies) Contains(a netip.Addr) bool {
	if p == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, pr := range p.prefixes {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

// String lists the networks.
func (p *TrustedProxies) String() string {
	if p == nil {
		return ""
	}
	s := make([]string, len(p.prefixes))
	for i, pr := range p.prefixes {
		s[i] = pr.String()
	}
	return strings.Join(s, ",")
}

// ForwardedHeaders says which family of forwarding headers Condo believes
// from a trusted proxy. Only one is: a proxy overwrites the family it
// writes, but passes the other through as the client sent it, so
// believing both lets a client choose its address, scheme and host.
type ForwardedHeaders uint8

// Header families.
const (
	// XForwarded believes X-Forwarded-For, -Host and -Proto, and removes
	// Forwarded. It is the default: nginx, Apache, HAProxy and most load
	// balancers write these.
	XForwarded ForwardedHeaders = iota
	// RFC7239 believes Forwarded (RFC 7239), and removes the X-Forwarded-*
	// headers and X-Real-Ip.
	RFC7239
)

// ParseForwardedHeaders reads a family's name: "x-forwarded" (or "") or
// "forwarded" (or "rfc7239").
func ParseForwardedHeaders(s string) (ForwardedHeaders, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "x-forwarded", "x-forwarded-*", "xforwarded":
		return XForwarded, nil
	case "forwarded", "rfc7239":
		return RFC7239, nil
	}
	return 0, fmt.Errorf("forwarded headers %q: want x-forwarded or forwarded", s)
}

// String returns the family's name, as ParseForwardedHeaders reads it.
func (f ForwardedHeaders) String() string {
	if f == RFC7239 {
		return "forwarded"
	}
	return "x-forwarded"
}

// ignored returns the headers of the other family, removed even from
// requests of trusted proxies.
func (f ForwardedHeaders) ignored() []string {
	if f == RFC7239 {
		return []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Real-Ip"}
	}
	return []string{"Forwarded"}
}

// forwardingHeaders are removed from requests of untrusted peers.
func forwardingHeaders() [8]string {
	return [...]string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host",
		"X-Forwarded-Proto", "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Real-Ip", "X-Request-Id"}
}

// edge is what the edge learns about a request's origin.
type edge struct {
	client  netip.Addr
	host    string // "" keeps r.Host
	https   bool
	trusted bool // the peer is a trusted proxy
}

// examine works out the client, host and scheme of r. When the peer is not
// trusted it returns a request without forwarding headers (and extra, a
// header to strip too); else a request without the headers of the family
// not believed (fam).
func (p *TrustedProxies) examine(r *http.Request, extra string, fam ForwardedHeaders) (*http.Request, edge) {
	var e edge
	e.https = r.TLS != nil
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		e.client = ap.Addr().Unmap()
	}
	if !p.Contains(e.client) {
		present := extra != "" && r.Header[http.CanonicalHeaderKey(extra)] != nil
		for _, h := range forwardingHeaders() {
			if _, ok := r.Header[h]; ok {
				present = true
				break
			}
		}
		if present {
			r2 := *r
			r2.Header = r.Header.Clone()
			for _, h := range forwardingHeaders() {
				delete(r2.Header, h)
			}
			if extra != "" {
				r2.Header.Del(extra)
			}
			r = &r2
		}
		return r, e
	}
	e.trusted = true
	for _, h := range fam.ignored() {
		if _, ok := r.Header[h]; ok {
			r2 := *r
			r2.Header = r.Header.Clone()
			for _, h := range fam.ignored() {
				delete(r2.Header, h)
			}
			r = &r2
			break
		}
	}
	if fam == RFC7239 {
		if fwd := r.Header.Values("Forwarded"); len(fwd) > 0 {
			p.forwarded(fwd, &e)
		}
		return r, e
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		e.client = p.rightmostUntrusted(xff, e.client)
	}
	if v := lastListValue(r.Header.Values("X-Forwarded-Host")); v != "" {
		e.host = v
	}
	if v := lastListValue(r.Header.Values("X-Forwarded-Proto")); v != "" {
		e.https = strings.EqualFold(v, "https")
	}
	return r, e
}

// rightmostUntrusted walks an X-Forwarded-For list from the right (the
// entries our trusted proxies appended) and returns the first address that
// is not a trusted proxy: the client as far as we can tell. Entries to its
// left were written by the client and are not believed.
func (p *TrustedProxies) rightmostUntrusted(values []string, peer netip.Addr) netip.Addr {
	client := peer
	for i := len(values) - 1; i >= 0; i-- {
		items := strings.Split(values[i], ",")
		for j := len(items) - 1; j >= 0; j-- {
			a, ok := parseNode(items[j])
			if !ok {
				return client // garbage: stop at the last good hop
			}
			client = a
			if !p.Contains(a) {
				return a
			}
		}
	}
	return client
}

// forwarded applies an RFC 7239 Forwarded header: elements are read from
// the right, while the "for" node is a trusted proxy; host and proto come
// from the element that names the client.
func (p *TrustedProxies) forwarded(values []string, e *edge) {
	var elems []string
	for _, v := range values {
		elems = append(elems, strings.Split(v, ",")...)
	}
	for i := len(elems) - 1; i >= 0; i-- {
		var forNode, host, proto string
		for _, pair := range strings.Split(elems[i], ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if !ok {
				continue
			}
			v = strings.Trim(v, `"`)
			switch strings.ToLower(k) {
			case "for":
				forNode = v
			case "host":
				host = v
			case "proto":
				proto = v
			}
		}
		if host != "" {
			e.host = host
		}
		if proto != "" {
			e.https = strings.EqualFold(proto, "https")
		}
		a, ok := parseNode(forNode)
		if !ok {
			return // "unknown", obfuscated or missing: the chain ends here
		}
		e.client = a
		if !p.Contains(a) {
			return
		}
	}
}

// parseNode parses an address as X-Forwarded-For or Forwarded write it:
// "192.0.2.1", "192.0.2.1:4711", "2001:db8::1", "[2001:db8::1]:4711".
func parseNode(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// lastListValue returns the last item of a comma-separated header that may
// appear several times: the one our nearest (trusted) proxy wrote.
func lastListValue(values []string) string {
	if len(values) == 0 {
		return ""
	}
	v := values[len(values)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}
