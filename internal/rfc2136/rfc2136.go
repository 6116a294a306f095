// Package rfc2136 adds and removes single DNS records on an authoritative
// server with dynamic updates (RFC 2136) signed with TSIG (RFC 8945).
//
// Records are inserted and removed one by one, never as whole RRsets: the
// ACME challenges for example.com and *.example.com share the name
// _acme-challenge.example.com, run at the same time, and must not delete
// each other's value.
package rfc2136

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Client talks to one server. The zero value is not usable: set Server.
type Client struct {
	// Server is the primary's host:port.
	Server string
	// KeyName is the TSIG key's name, e.g. "acme-key". Empty sends
	// unsigned updates.
	KeyName string
	// Secret is the TSIG key in base64.
	Secret string
	// Algorithm is a TSIG algorithm such as "hmac-sha256" (the default),
	// "hmac-sha512" or "hmac-sha1".
	Algorithm string
	// Timeout bounds each exchange. Defaults to 10 seconds.
	Timeout time.Duration
}

// Error is a refusal by the server.
type Error struct {
	Op     string // "update", "query"
	Name   string
	Server string
	Rcode  int
	// TSIGError is the TSIG error code the server sent (BADSIG, BADKEY,
	// BADTIME), if any.
	TSIGError uint16
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("rfc2136: %s %s at %s: server answered %s", e.Op, e.Name, e.Server, dns.RcodeToString[e.Rcode])
	if e.TSIGError != 0 {
		msg += " (TSIG " + dns.RcodeToString[int(e.TSIGError)] + ")"
	}
	if e.Rcode == dns.RcodeNotAuth || e.TSIGError != 0 {
		msg += ": the TSIG key name, secret or algorithm is wrong, or the key may not update this zone"
	}
	return msg
}

// ErrTSIG is wrapped by errors about a response that fails TSIG
// authentication (usually: the server does not know the key or secret).
var ErrTSIG = errors.New("TSIG authentication failed: the TSIG key name, secret or algorithm is wrong, or the clocks differ")

// Algorithm returns the canonical TSIG algorithm name for alg, or an error.
func Algorithm(alg string) (string, error) {
	switch strings.TrimSuffix(strings.ToLower(cmp.Or(alg, "hmac-sha256")), ".") {
	case "hmac-sha1":
		return dns.HmacSHA1, nil
	case "hmac-sha224":
		return dns.HmacSHA224, nil
	case "hmac-sha256":
		return dns.HmacSHA256, nil
	case "hmac-sha384":
		return dns.HmacSHA384, nil
	case "hmac-sha512":
		return dns.HmacSHA512, nil
	}
	return "", fmt.Errorf("rfc2136: unsupported TSIG algorithm %q", alg)
}

func (c *Client) exchange(ctx context.Context, op, name string, m *dns.Msg) (*dns.Msg, error) {
	cl := &dns.Client{Net: "tcp", Timeout: cmp.Or(c.Timeout, 10*time.Second)}
	if c.KeyName != "" {
		alg, err := Algorithm(c.Algorithm)
		if err != nil {
			return nil, err
		}
		key := dns.Fqdn(c.KeyName)
		cl.TsigSecret = map[string]string{key: c.Secret}
		m.SetTsig(key, alg, 300, time.Now().Unix())
	}
	r, _, err := cl.ExchangeContext(ctx, m, c.Server)
	if err != nil {
		if errors.Is(err, dns.ErrSig) || errors.Is(err, dns.ErrSecret) || errors.Is(err, dns.ErrKey) || errors.Is(err, dns.ErrAuth) || errors.Is(err, dns.ErrTime) {
			return nil, fmt.Errorf("rfc2136: %s %s at %s with key %q: %w (%v)", op, name, c.Server, c.KeyName, ErrTSIG, err)
		}
		return nil, fmt.Errorf("rfc2136: %s %s at %s: %w", op, name, c.Server, err)
	}
	if r.Rcode != dns.RcodeSuccess && !(op == "query" && r.Rcode == dns.RcodeNameError) {
		e := &Error{Op: op, Name: name, Server: c.Server, Rcode: r.Rcode}
		if t := r.IsTsig(); t != nil {
			e.TSIGError = t.Error
		}
		return nil, e
	}
	return r, nil
}

// FindZone returns the zone (with a trailing dot) that name belongs to,
// asking the server for name's SOA.
func (c *Client) FindZone(ctx context.Context, name string) (string, error) {
	fqdn := dns.Fqdn(name)
	m := new(dns.Msg)
	m.SetQuestion(fqdn, dns.TypeSOA)
	m.RecursionDesired = false
	r, err := c.exchange(ctx, "query", fqdn, m)
	if err != nil {
		return "", err
	}
	for _, sec := range [][]dns.RR{r.Answer, r.Ns} {
		for _, rr := range sec {
			if soa, ok := rr.(*dns.SOA); ok {
				return soa.Hdr.Name, nil
			}
		}
	}
	return "", fmt.Errorf("rfc2136: no zone for %s at %s: the server is not authoritative for it", fqdn, c.Server)
}

func txt(name string, ttl uint32, value string) *dns.TXT {
	return &dns.TXT{
		Hdr: dns.RR_Header{Name: dns.Fqdn(name), Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl},
		Txt: []string{value},
	}
}

// InsertTXT adds one TXT record with value to name in zone, leaving other
// values of the same name in place.
func (c *Client) InsertTXT(ctx context.Context, zone, name string, ttl time.Duration, value string) error {
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(zone))
	m.Insert([]dns.RR{txt(name, uint32(max(ttl, time.Second)/time.Second), value)})
	_, err := c.exchange(ctx, "update", dns.Fqdn(name), m)
	return err
}

// RemoveTXT removes the TXT record of name with value from zone, leaving
// other values of the same name in place.
func (c *Client) RemoveTXT(ctx context.Context, zone, name, value string) error {
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(zone))
	m.Remove([]dns.RR{txt(name, 0, value)})
	_, err := c.exchange(ctx, "update", dns.Fqdn(name), m)
	return err
}

// LookupTXT returns the TXT values of name as the server has them.
func (c *Client) LookupTXT(ctx context.Context, name string) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
	m.RecursionDesired = false
	cl := *c
	cl.KeyName = "" // queries need no signature
	r, err := cl.exchange(ctx, "query", dns.Fqdn(name), m)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out, nil
}
