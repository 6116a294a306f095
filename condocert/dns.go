package condocert

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/mholt/acmez/v3/acme"
	"github.com/miekg/dns"
)

// DNSChallenge is one ACME DNS-01 challenge: a TXT record that proves
// control of a domain.
type DNSChallenge struct {
	// Domain is the name being validated, without any "*." prefix: the
	// challenges for *.example.com and example.com both have Domain
	// example.com (and run at the same time, with different values).
	Domain string
	// Name is the TXT record's name, "_acme-challenge." + Domain, without
	// a trailing dot.
	Name string
	// Value is the TXT record's value.
	Value string
	// Token and KeyAuthorization are the raw ACME values, for providers
	// that derive the record themselves (lego's).
	Token, KeyAuthorization string
}

// DNSProvider creates and removes the TXT records of DNS-01 challenges.
// Implementations must add and remove only the one value they are given:
// other values of the same name belong to concurrent challenges.
//
// Condo's providers are [RFC2136Provider], [ExecProvider],
// [ManualProvider] and, through lego, DigitalOcean, Cloudflare and Route53
// ([NewDNSProvider] builds any of them by name).
type DNSProvider interface {
	Present(ctx context.Context, ch DNSChallenge) error
	CleanUp(ctx context.Context, ch DNSChallenge) error
}

// DNSWaiter is implemented by providers that know better than a DNS query
// when their record is visible (or ask a human, as [ManualProvider] does).
// Its Wait replaces the propagation check.
type DNSWaiter interface {
	Wait(ctx context.Context, ch DNSChallenge) error
}

func newDNSChallenge(c acme.Challenge) DNSChallenge {
	return DNSChallenge{
		Domain:           c.Identifier.Value,
		Name:             strings.TrimSuffix(c.DNS01TXTRecordName(), "."),
		Value:            c.DNS01KeyAuthorization(),
		Token:            c.Token,
		KeyAuthorization: c.KeyAuthorization,
	}
}

// dnsSolver adapts a DNSProvider to acmez.Solver and acmez.Waiter.
type dnsSolver struct {
	p         DNSProvider
	resolvers []string // "" → authoritative servers found via the system resolver
	timeout   time.Duration
	logger    *slog.Logger
}

func (s *dnsSolver) Present(ctx context.Context, c acme.Challenge) error {
	ch := newDNSChallenge(c)
	s.logger.LogAttrs(ctx, slog.LevelDebug, "presenting dns-01 challenge", slog.String("record", ch.Name))
	if err := s.p.Present(ctx, ch); err != nil {
		return fmt.Errorf("present TXT %s: %w", ch.Name, err)
	}
	return nil
}

func (s *dnsSolver) CleanUp(ctx context.Context, c acme.Challenge) error {
	ch := newDNSChallenge(c)
	if err := s.p.CleanUp(ctx, ch); err != nil {
		return fmt.Errorf("clean up TXT %s: %w", ch.Name, err)
	}
	return nil
}

func (s *dnsSolver) Wait(ctx context.Context, c acme.Challenge) error {
	ch := newDNSChallenge(c)
	if w, ok := s.p.(DNSWaiter); ok {
		return w.Wait(ctx, ch)
	}
	if s.timeout < 0 {
		return nil
	}
	return waitForTXT(ctx, ch.Name, ch.Value, s.resolvers, s.timeout)
}

// waitForTXT polls until every server shows value in name's TXT records.
// With no resolvers it asks the zone's authoritative servers directly,
// found through the system resolver, so that no recursive resolver caches
// the record's absence.
func waitForTXT(ctx context.Context, name, value string, resolvers []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(timeout, 2*time.Minute))
	defer cancel()
	fqdn := dns.Fqdn(name)
	servers := resolvers
	recursive := true
	delay := 250 * time.Millisecond
	var lastErr error
	for {
		if len(resolvers) == 0 && len(servers) == 0 {
			servers, lastErr = authoritativeServers(ctx, fqdn)
			recursive = false
		}
		if len(servers) > 0 {
			var ok bool
			ok, lastErr = txtVisible(ctx, fqdn, value, servers, recursive)
			if ok {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("TXT %s not visible: %w", name, lastErr)
			}
			return fmt.Errorf("TXT %s not visible on %s: %w", name, strings.Join(servers, ", "), ctx.Err())
		case <-time.After(delay):
			delay = min(delay*2, 4*time.Second)
		}
	}
}

func txtVisible(ctx context.Context, fqdn, value string, servers []string, recursive bool) (bool, error) {
	for _, srv := range servers {
		m := new(dns.Msg)
		m.SetQuestion(fqdn, dns.TypeTXT)
		m.RecursionDesired = recursive
		r, _, err := (&dns.Client{Net: "tcp", Timeout: 5 * time.Second}).ExchangeContext(ctx, m, srv)
		if err != nil {
			return false, fmt.Errorf("query %s: %w", srv, err)
		}
		found := false
		for _, rr := range r.Answer {
			if t, ok := rr.(*dns.TXT); ok && strings.Join(t.Txt, "") == value {
				found = true
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}

// systemResolvers returns the servers of /etc/resolv.conf.
func systemResolvers() ([]string, error) {
	cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return nil, fmt.Errorf("system resolvers: %w", err)
	}
	var out []string
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	return out, nil
}

// authoritativeServers finds the zone of fqdn by walking up to the first
// name with an SOA record and returns its name servers' addresses.
func authoritativeServers(ctx context.Context, fqdn string) ([]string, error) {
	rs, err := systemResolvers()
	if err != nil {
		return nil, err
	}
	cl := &dns.Client{Timeout: 5 * time.Second}
	labels := dns.SplitDomainName(fqdn)
	for i := range labels {
		zone := dns.Fqdn(strings.Join(labels[i:], "."))
		m := new(dns.Msg)
		m.SetQuestion(zone, dns.TypeNS)
		var r *dns.Msg
		for _, srv := range rs {
			if r, _, err = cl.ExchangeContext(ctx, m, srv); err == nil {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("find name servers of %s: %w", fqdn, err)
		}
		var hosts []string
		for _, rr := range r.Answer {
			if ns, ok := rr.(*dns.NS); ok {
				hosts = append(hosts, ns.Ns)
			}
		}
		if len(hosts) == 0 {
			continue
		}
		var out []string
		for _, h := range hosts {
			addrs, err := net.DefaultResolver.LookupHost(ctx, h)
			if err != nil {
				continue
			}
			for _, a := range addrs {
				out = append(out, net.JoinHostPort(a, "53"))
			}
		}
		slices.Sort(out)
		if len(out) == 0 {
			return nil, fmt.Errorf("name servers of %s have no addresses", zone)
		}
		return out, nil
	}
	return nil, fmt.Errorf("no zone found for %s", fqdn)
}
