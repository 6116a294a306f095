package condocert

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/miekg/dns"
)

// Custom domain verification. Before a tenant's own domain counts (for
// routing and for certificates) its owner proves control of it, with
// the domain's verify_token in public.condo_domains, in one of two ways:
//
//   - DNS: a TXT record _condo-challenge.<host> with the token as value
//     ([VerificationRecord]);
//   - HTTP: http://<host>/.well-known/condo-verify/<token> answering the
//     token ([VerificationURL]). When the host already points at Condo,
//     [VerifyHandler] answers it, so pointing the domain is the proof.
var (
	// ErrDomainNotFound: the host is not in public.condo_domains.
	ErrDomainNotFound = errors.New("condocert: domain not found")
	// ErrNoVerifyToken: the domain has no verify_token to check.
	ErrNoVerifyToken = errors.New("condocert: domain has no verification token")
	// ErrNotProven: neither proof was found; the error says what was seen.
	ErrNotProven = errors.New("condocert: domain ownership not proven")
)

// VerifyPath is the URL path prefix of HTTP ownership proofs.
const VerifyPath = "/.well-known/condo-verify/"

// NewVerifyToken returns a random token for public.condo_domains.verify_token.
func NewVerifyToken() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

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
}

// VerifyResult says how a domain was verified.
type VerifyResult struct {
	Host       string
	Method     string // "dns" or "http"
	VerifiedAt time.Time
}

// VerifyDomain checks the ownership proof of host against its
// verify_token (DNS first, then HTTP) and, if found, sets verified_at.
// Verifying an already verified domain checks again and refreshes
// verified_at. It returns [ErrDomainNotFound], [ErrNoVerifyToken], or an
// error wrapping [ErrNotProven] that says what was seen.
func VerifyDomain(ctx context.Context, pool *pgxpool.Pool, host string, opts *VerifyOpts) (*VerifyResult, error) {
	if opts == nil {
		opts = &VerifyOpts{}
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	var token *string
	err := pool.QueryRow(ctx, `SELECT verify_token FROM public.condo_domains WHERE host = $1`, host).Scan(&token)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("verify %s: %w", host, ErrDomainNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", host, err)
	}
	if token == nil || *token == "" {
		return nil, fmt.Errorf("verify %s: %w", host, ErrNoVerifyToken)
	}
	method, dnsErr := "dns", checkTXT(ctx, host, *token, opts.Resolvers)
	var httpErr error
	if dnsErr != nil {
		if opts.SkipHTTP {
			httpErr = errors.New("not checked")
		} else {
			method, httpErr = "http", checkHTTP(ctx, host, *token, opts.HTTPClient)
		}
	}
	if dnsErr != nil && httpErr != nil {
		return nil, fmt.Errorf("verify %s: %w: dns: %v; http: %v", host, ErrNotProven, dnsErr, httpErr)
	}
	var at time.Time
	// Announce the change like the registry does, so every server's host
	// cache starts routing the domain at once.
	if err := pool.QueryRow(ctx, `
		WITH u AS (
			UPDATE public.condo_domains SET verified_at = now() WHERE host = $1 AND verify_token = $2
			RETURNING verified_at, tenant_id)
		SELECT u.verified_at, pg_notify('condo_registry', json_build_object(
			'op', 'domain', 'id', u.tenant_id, 'slug', t.slug, 'hosts', json_build_array($1::text))::text)::text
		FROM u JOIN public.condo_tenants t ON t.id = u.tenant_id`,
		host, *token).Scan(&at, new(string)); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("verify %s: token changed during verification: %w", host, ErrNotProven)
		}
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
// whose row in public.condo_domains has that token gets the token back.
// Other requests go to next.
//
// This proves that the domain points at this Condo installation, not
// which tenant owns it: whoever adds a pointed domain first can verify it
// (as with ACME HTTP-01). Where that matters, verify with DNS
// ([VerifyOpts.SkipHTTP]).
func VerifyHandler(pool *pgxpool.Pool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.URL.Path, VerifyPath)
		if !ok || token == "" || strings.Contains(token, "/") {
			next.ServeHTTP(w, r)
			return
		}
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		var found bool
		err := pool.QueryRow(r.Context(), `SELECT true FROM public.condo_domains WHERE host = $1 AND verify_token = $2`,
			strings.ToLower(host), token).Scan(&found)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, token)
	})
}
