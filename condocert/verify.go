package condocert

import (
	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/condo-dev/condo"
	"github.com/miekg/dns"
)

// Custom domain verification. Before a tenant's own domain counts (for
// routing and for certificates) its owner proves control of it, with the
// token the registry gave the domain ([condo.Registry.AddDomain] with
// Unverified), in one of two ways:
//
//   - DNS: a TXT record _condo-challenge.<host> with the token as value
//     ([VerificationRecord]);
//   - HTTP: http://<host>/.well-known/condo-verify/<token> answering the
//     token ([VerificationURL]). When the host already points at Condo,
//     [VerifyHandler] answers it, so pointing the domain is the proof.
var (
	// ErrNoVerifyToken: the domain has no verify_token to check.
	ErrNoVerifyToken = errors.New("condocert: domain has no verification token")
	// ErrNotProven: neither proof was found; the error says what was seen.
	ErrNotProven = errors.New("condocert: domain ownership not proven")
)

// VerifyPath is the URL path prefix of HTTP ownership proofs.
const VerifyPath = "/.well-known/condo-verify/"

// VerificationRecord returns the TXT record that proves control of host.
func VerificationRecord(host, token string) (name, value string) {
	return "_condo-challenge." + strings.TrimSuffix(strings.ToLower(host), "."), token
}

// VerificationURL returns the URL that proves control of host.
func VerificationURL(host, token string) string {
	return "http://" + strings.ToLower(host) + VerifyPath + token
}

// VerifyOpts tunes [VerifyDomain]. A nil *VerifyOpts is valid.
type VerifyOpts struct {
	// Resolvers (host:port) are asked for the TXT record. Defaults to
	// the system's resolvers.
	Resolvers []string
	// HTTPClient fetches the HTTP proof. Defaults to a client with a 10
	// second timeout.
	HTTPClient *http.Client
	// SkipHTTP checks only DNS.
	SkipHTTP bool
	// Tenant, when set, is the slug of the tenant host must belong to,
	// so that an operator who names the wrong pair verifies nothing.
	Tenant string
}

// VerifyResult says how a domain was verified.
type VerifyResult struct {
	Host       string
	Method     string // "dns" or "http"
	VerifiedAt time.Time
}

// VerifyDomain checks the ownership proof of host against its token
// (DNS first, then HTTP) and, if found, has reg record host as verified
// ([condo.Registry.ConfirmDomain], which every server hears). Verifying an
// already verified domain checks again and refreshes the time. It returns
// [condo.ErrDomainNotFound] (also when host is not a domain of
// [VerifyOpts].Tenant), [condo.ErrTenantNotFound] for no such tenant,
// [ErrNoVerifyToken], or an error wrapping [ErrNotProven] that says what
// was seen.
func VerifyDomain(ctx context.Context, reg *condo.Registry, host string, opts *VerifyOpts) (*VerifyResult, error) {
	if opts == nil {
		opts = &VerifyOpts{}
	}
	d, err := reg.Domain(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", host, err)
	}
	host = d.Host
	if opts.Tenant != "" {
		t, err := reg.Get(ctx, opts.Tenant)
		if err != nil {
			return nil, fmt.Errorf("verify %s: %w", host, err)
		}
		if !slices.ContainsFunc(t.Domains, func(td condo.Domain) bool { return td.Host == host }) {
			return nil, fmt.Errorf("verify %s: domain of tenant %q: %w", host, t.Slug, condo.ErrDomainNotFound)
		}
	}
	if d.VerifyToken == "" {
		return nil, fmt.Errorf("verify %s: %w", host, ErrNoVerifyToken)
	}
	method, dnsErr := "dns", checkTXT(ctx, host, d.VerifyToken, opts.Resolvers)
	var httpErr error
	if dnsErr != nil {
		if opts.SkipHTTP {
			httpErr = errors.New("not checked")
		} else {
			method, httpErr = "http", checkHTTP(ctx, host, d.VerifyToken, opts.HTTPClient)
		}
	}
	if dnsErr != nil && httpErr != nil {
		return nil, fmt.Errorf("verify %s: %w: dns: %v; http: %v", host, ErrNotProven, dnsErr, httpErr)
	}
	at, err := reg.ConfirmDomain(ctx, host, d.VerifyToken)
	if errors.Is(err, condo.ErrDomainNotFound) {
		return nil, fmt.Errorf("verify %s: token changed during verification: %w", host, ErrNotProven)
	}
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", host, err)
	}
	return &VerifyResult{Host: host, Method: method, VerifiedAt: at}, nil
}

func checkTXT(ctx context.Context, host, token string, resolvers []string) error {
	if len(resolvers) == 0 {
		var err error
		if resolvers, err = systemResolvers(); err != nil {
			return err
		}
	}
	name, _ := VerificationRecord(host, token)
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
	var lastErr error
	for _, srv := range resolvers {
		r, _, err := (&dns.Client{Net: "tcp", Timeout: 5 * time.Second}).ExchangeContext(ctx, m, srv)
		if err != nil {
			lastErr = err
			continue
		}
		var seen []string
		for _, rr := range r.Answer {
			if t, ok := rr.(*dns.TXT); ok {
				v := strings.Join(t.Txt, "")
				if v == token {
					return nil
				}
				seen = append(seen, fmt.Sprintf("%q", v))
			}
		}
		if len(seen) == 0 {
			return fmt.Errorf("no TXT record %s", name)
		}
		return fmt.Errorf("TXT %s has %s, not the token", name, strings.Join(seen, ", "))
	}
	return fmt.Errorf("TXT %s: %w", name, lastErr)
}

func checkHTTP(ctx context.Context, host, token string, client *http.Client) error {
	client = cmp.Or(client, &http.Client{Timeout: 10 * time.Second})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, VerificationURL(host, token), nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", req.URL, resp.Status)
	}
	if strings.TrimSpace(string(body)) != token {
		return fmt.Errorf("GET %s: the body is not the token", req.URL)
	}
	return nil
}

// VerifyHandler answers HTTP ownership proofs for domains that already
// point at this server: GET /.well-known/condo-verify/<token> with a Host
// that is a domain of reg with that token gets the token back.
// Other requests go to next.
//
// This proves that the domain points at this Condo installation, not
// which tenant owns it: whoever adds a pointed domain first can verify it
// (as with ACME HTTP-01). Where that matters, verify with DNS
// ([VerifyOpts.SkipHTTP]).
func VerifyHandler(reg *condo.Registry, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.URL.Path, VerifyPath)
		if !ok || token == "" || strings.Contains(token, "/") {
			next.ServeHTTP(w, r)
			return
		}
		// NormalizeHost (in Domain) drops the port.
		d, err := reg.Domain(r.Context(), r.Host)
		if err != nil || d.VerifyToken == "" || subtle.ConstantTimeCompare([]byte(d.VerifyToken), []byte(token)) != 1 {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, token)
	})
}
