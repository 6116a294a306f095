package condocert

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/go-acme/lego/v5/challenge"
	"github.com/go-acme/lego/v5/providers/dns/cloudflare"
	"github.com/go-acme/lego/v5/providers/dns/digitalocean"
	"github.com/go-acme/lego/v5/providers/dns/route53"

	"github.com/condo-dev/condo/internal/rfc2136"
)

// RFC2136Provider updates an authoritative DNS server with dynamic updates
// (RFC 2136) signed with a TSIG key. It inserts and removes single TXT
// records, never whole RRsets, so that the concurrent challenges for a
// name and its wildcard do not delete each other's value.
type RFC2136Provider struct {
	// Server is the primary's host:port (port 53 if omitted).
	Server string
	// KeyName is the TSIG key's name.
	KeyName string
	// Secret is the TSIG key in base64. It never appears in errors.
	Secret string
	// Algorithm defaults to "hmac-sha256".
	Algorithm string
	// Zone is the zone to update. Defaults to the zone the server reports
	// (by its SOA) for each record's name.
	Zone string
	// TTL of the challenge records. Defaults to 60 seconds.
	TTL time.Duration
}

func (p *RFC2136Provider) client() *rfc2136.Client {
	srv := p.Server
	if _, _, err := net.SplitHostPort(srv); err != nil {
		srv = net.JoinHostPort(srv, "53")
	}
	return &rfc2136.Client{Server: srv, KeyName: p.KeyName, Secret: p.Secret, Algorithm: p.Algorithm}
}

func (p *RFC2136Provider) zone(ctx context.Context, c *rfc2136.Client, name string) (string, error) {
	if p.Zone != "" {
		return p.Zone, nil
	}
	return c.FindZone(ctx, name)
}

// Present inserts the challenge's TXT record.
func (p *RFC2136Provider) Present(ctx context.Context, ch DNSChallenge) error {
	c := p.client()
	zone, err := p.zone(ctx, c, ch.Name)
	if err != nil {
		return err
	}
	return c.InsertTXT(ctx, zone, ch.Name, cmp.Or(p.TTL, time.Minute), ch.Value)
}

// CleanUp removes the challenge's TXT record.
func (p *RFC2136Provider) CleanUp(ctx context.Context, ch DNSChallenge) error {
	c := p.client()
	zone, err := p.zone(ctx, c, ch.Name)
	if err != nil {
		return err
	}
	return c.RemoveTXT(ctx, zone, ch.Name, ch.Value)
}

// LegoProvider adapts a provider of github.com/go-acme/lego/v5 (any of its
// providers/dns packages) to [DNSProvider].
type LegoProvider struct {
	Provider challenge.Provider
}

// Present creates the record through lego.
func (p LegoProvider) Present(ctx context.Context, ch DNSChallenge) error {
	return p.Provider.Present(ctx, ch.Domain, ch.Token, ch.KeyAuthorization)
}

// CleanUp removes the record through lego.
func (p LegoProvider) CleanUp(ctx context.Context, ch DNSChallenge) error {
	return p.Provider.CleanUp(ctx, ch.Domain, ch.Token, ch.KeyAuthorization)
}

// ExecProvider runs a user's programs to create and remove the record, as
// certbot's --manual-auth-hook and --manual-cleanup-hook do. The programs
// are run directly (not through a shell) with the environment of the
// process plus:
//
//	CERTBOT_DOMAIN       the domain being validated (example.com, also for *.example.com)
//	CERTBOT_VALIDATION   the TXT record's value
//	CERTBOT_ALL_DOMAINS  the same as CERTBOT_DOMAIN
//	CERTBOT_REMAINING_CHALLENGES  0
//	CERTBOT_AUTH_OUTPUT  (cleanup only) what the auth hook printed
//	CONDO_DNS_ACTION     "present" or "cleanup"
//	CONDO_DNS_NAME       the TXT record's name (_acme-challenge.example.com)
//
// so existing certbot hook scripts work unchanged. A hook for a server
// taking dynamic updates, with nsupdate (bind9-dnsutils) or knsupdate
// (knot-dnsutils), both reading this input:
//
//	#!/bin/sh
//	set -eu
//	case "$CONDO_DNS_ACTION" in
//	present) op="add $CONDO_DNS_NAME. 60" ;;
//	cleanup) op="delete $CONDO_DNS_NAME." ;;
//	esac
//	nsupdate <<EOF
//	server ns1.example.com
//	zone example.com.
//	key hmac-sha256:acme-key $(cat /etc/condo/tsig.secret)
//	update $op TXT "$CERTBOT_VALIDATION"
//	send
//	EOF
type ExecProvider struct {
	// AuthHook is the program that creates the record.
	AuthHook string
	// CleanupHook is the program that removes it. Defaults to AuthHook
	// (which then sees CONDO_DNS_ACTION=cleanup).
	CleanupHook string
	// Timeout bounds each run. Defaults to 2 minutes.
	Timeout time.Duration

	mu      sync.Mutex
	outputs map[string]string // by record value
}

func (p *ExecProvider) run(ctx context.Context, prog, action string, ch DNSChallenge, authOut string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(p.Timeout, 2*time.Minute))
	defer cancel()
	cmd := exec.CommandContext(ctx, prog)
	cmd.Env = append(os.Environ(),
		"CERTBOT_DOMAIN="+ch.Domain,
		"CERTBOT_VALIDATION="+ch.Value,
		"CERTBOT_ALL_DOMAINS="+ch.Domain,
		"CERTBOT_REMAINING_CHALLENGES=0",
		"CONDO_DNS_ACTION="+action,
		"CONDO_DNS_NAME="+ch.Name,
	)
	if action == "cleanup" {
		cmd.Env = append(cmd.Env, "CERTBOT_AUTH_OUTPUT="+authOut)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 300 {
			msg = msg[len(msg)-300:]
		}
		return "", fmt.Errorf("%s hook %s: %w: %s", action, prog, err, msg)
	}
	return strings.TrimSpace(stdout.String()), nil
}

// Present runs AuthHook.
func (p *ExecProvider) Present(ctx context.Context, ch DNSChallenge) error {
	if p.AuthHook == "" {
		return errors.New("exec provider: no auth hook")
	}
	out, err := p.run(ctx, p.AuthHook, "present", ch, "")
	if err != nil {
		return err
	}
	p.mu.Lock()
	if p.outputs == nil {
		p.outputs = map[string]string{}
	}
	p.outputs[ch.Value] = out
	p.mu.Unlock()
	return nil
}

// CleanUp runs CleanupHook.
func (p *ExecProvider) CleanUp(ctx context.Context, ch DNSChallenge) error {
	p.mu.Lock()
	out := p.outputs[ch.Value]
	delete(p.outputs, ch.Value)
	p.mu.Unlock()
	_, err := p.run(ctx, cmp.Or(p.CleanupHook, p.AuthHook), "cleanup", ch, out)
	return err
}

// ManualProvider asks a human to create the record: it prints the record
// to Out and waits until the human presses Enter on In or the record is
// seen in DNS, whichever comes first. It is for one-off `certs obtain`
// runs, not for servers.
type ManualProvider struct {
	// In defaults to os.Stdin, Out to os.Stdout.
	In  io.Reader
	Out io.Writer
	// Resolvers are asked for the record (host:port); defaults to the
	// zone's authoritative servers.
	Resolvers []string

	once  sync.Once
	lines chan struct{}
}

// Present prints the record to create.
func (p *ManualProvider) Present(_ context.Context, ch DNSChallenge) error {
	_, err := fmt.Fprintf(cmp.Or[io.Writer](p.Out, os.Stdout),
		"Create this DNS TXT record, then press Enter (or wait until it is seen):\n\n    %s.  60  IN  TXT  %q\n\n", ch.Name, ch.Value)
	return err
}

// Wait returns when Enter is pressed or the record is visible.
func (p *ManualProvider) Wait(ctx context.Context, ch DNSChallenge) error {
	p.once.Do(func() {
		p.lines = make(chan struct{})
		go func() {
			sc := bufio.NewScanner(cmp.Or[io.Reader](p.In, os.Stdin))
			for sc.Scan() {
				p.lines <- struct{}{}
			}
			close(p.lines)
		}()
	})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seen := make(chan error, 1)
	go func() { seen <- waitForTXT(ctx, ch.Name, ch.Value, p.Resolvers, time.Hour) }()
	select {
	case <-p.lines:
		return nil
	case err := <-seen:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CleanUp reminds the human to remove the record.
func (p *ManualProvider) CleanUp(_ context.Context, ch DNSChallenge) error {
	_, err := fmt.Fprintf(cmp.Or[io.Writer](p.Out, os.Stdout), "You may now remove the TXT record %s %q.\n", ch.Name, ch.Value)
	return err
}

// Credentials are the settings of a DNS provider, read from a credentials
// file and the environment (see [NewDNSProvider]).
type credentials struct {
	file   map[string]string
	getenv func(string) string
}

// parseCredentials reads KEY=value lines ('#' and ';' start comments,
// values may be quoted; certbot's "key = value" ini files work too).
func parseCredentials(b []byte) (map[string]string, error) {
	out := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			// The line is not echoed: it may hold a secret.
			return nil, fmt.Errorf("line %d: want KEY=value", i+1)
		}
		k = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(k), "export "))
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out[k] = v
	}
	return out, nil
}

// get returns the first key set in the file, then the environment; an
// environment variable KEY_FILE names a file holding the value.
func (c credentials) get(keys ...string) (string, error) {
	for _, k := range keys {
		if v := c.file[k]; v != "" {
			return v, nil
		}
	}
	if c.getenv == nil {
		return "", nil
	}
	for _, k := range keys {
		if v := c.getenv(k); v != "" {
			return v, nil
		}
		if f := c.getenv(k + "_FILE"); f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				return "", fmt.Errorf("read $%s_FILE: %w", k, err)
			}
			return strings.TrimSpace(string(b)), nil
		}
	}
	return "", nil
}

func (c credentials) require(what string, keys ...string) (string, error) {
	v, err := c.get(keys...)
	if err != nil {
		return "", err
	}
	if v == "" {
		return "", fmt.Errorf("%s: set %s in the credentials file or the environment", what, strings.Join(keys, " or "))
	}
	return v, nil
}

// DNSProviderNames lists the names [NewDNSProvider] accepts.
func DNSProviderNames() []string {
	return []string{"rfc2136", "digitalocean", "cloudflare", "route53", "exec", "manual"}
}

// NewDNSProvider builds the provider called name, with its settings read
// from credFile (if not empty) and then from the environment through
// getenv (usually os.Getenv; nil reads only the file). For any variable
// NAME, NAME_FILE may name a file holding the value. Secrets are never
// taken from flags and never appear in errors.
//
//	rfc2136       RFC2136_NAMESERVER (host[:port]), RFC2136_TSIG_KEY, RFC2136_TSIG_SECRET,
//	              RFC2136_TSIG_ALGORITHM (hmac-sha256), RFC2136_ZONE (optional)
//	              certbot-dns-rfc2136: dns_rfc2136_server, _port, _name, _secret, _algorithm
//	digitalocean  DO_AUTH_TOKEN; certbot-dns-digitalocean: dns_digitalocean_token
//	cloudflare    CF_DNS_API_TOKEN (and optionally CF_ZONE_API_TOKEN), or CF_API_EMAIL and
//	              CF_API_KEY; certbot-dns-cloudflare: dns_cloudflare_api_token, …_email, …_api_key
//	route53       AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_HOSTED_ZONE_ID;
//	              without keys, the AWS SDK's default chain (instance role, ~/.aws)
//	exec          CONDO_DNS_AUTH_HOOK, CONDO_DNS_CLEANUP_HOOK (see [ExecProvider])
//	manual        nothing (see [ManualProvider])
//
// The certbot ini file of the tutorial (dns_digitalocean_token = …) can
// be passed as credFile unchanged.
func NewDNSProvider(name, credFile string, getenv func(string) string) (DNSProvider, error) {
	c := credentials{getenv: getenv}
	if credFile != "" {
		b, err := os.ReadFile(credFile)
		if err != nil {
			return nil, fmt.Errorf("dns provider %s: credentials: %w", name, err)
		}
		if c.file, err = parseCredentials(b); err != nil {
			return nil, fmt.Errorf("dns provider %s: credentials file %s: %w", name, credFile, err)
		}
	}
	p, err := newDNSProvider(name, c)
	if err != nil {
		return nil, fmt.Errorf("dns provider %s: %w", name, err)
	}
	return p, nil
}

func newDNSProvider(name string, c credentials) (DNSProvider, error) {
	httpClient := &http.Client{Timeout: 30 * time.Second}
	switch name {
	case "rfc2136":
		server, err := c.require("name server", "RFC2136_NAMESERVER", "dns_rfc2136_server")
		if err != nil {
			return nil, err
		}
		if port, _ := c.get("dns_rfc2136_port"); port != "" {
			server = net.JoinHostPort(server, port)
		}
		key, err := c.require("TSIG key name", "RFC2136_TSIG_KEY", "dns_rfc2136_name")
		if err != nil {
			return nil, err
		}
		secret, err := c.require("TSIG secret", "RFC2136_TSIG_SECRET", "dns_rfc2136_secret")
		if err != nil {
			return nil, err
		}
		alg, _ := c.get("RFC2136_TSIG_ALGORITHM", "dns_rfc2136_algorithm")
		if _, err := rfc2136.Algorithm(alg); err != nil {
			return nil, err
		}
		zone, _ := c.get("RFC2136_ZONE")
		return &RFC2136Provider{Server: server, KeyName: key, Secret: secret, Algorithm: alg, Zone: zone}, nil
	case "digitalocean":
		token, err := c.require("API token", "DO_AUTH_TOKEN", "dns_digitalocean_token")
		if err != nil {
			return nil, err
		}
		p, err := digitalocean.NewDNSProviderConfig(&digitalocean.Config{
			BaseURL: "https://api.digitalocean.com", AuthToken: token, TTL: 30,
			PropagationTimeout: 2 * time.Minute, PollingInterval: 5 * time.Second, HTTPClient: httpClient,
		})
		if err != nil {
			return nil, err
		}
		return LegoProvider{Provider: p}, nil
	case "cloudflare":
		cfg := &cloudflare.Config{TTL: 120, PropagationTimeout: 2 * time.Minute, PollingInterval: 2 * time.Second, HTTPClient: httpClient}
		var err error
		if cfg.AuthToken, err = c.get("CF_DNS_API_TOKEN", "CLOUDFLARE_DNS_API_TOKEN", "dns_cloudflare_api_token"); err != nil {
			return nil, err
		}
		if cfg.ZoneToken, err = c.get("CF_ZONE_API_TOKEN", "CLOUDFLARE_ZONE_API_TOKEN"); err != nil {
			return nil, err
		}
		if cfg.AuthEmail, err = c.get("CF_API_EMAIL", "CLOUDFLARE_EMAIL", "dns_cloudflare_email"); err != nil {
			return nil, err
		}
		if cfg.AuthKey, err = c.get("CF_API_KEY", "CLOUDFLARE_API_KEY", "dns_cloudflare_api_key"); err != nil {
			return nil, err
		}
		if cfg.AuthToken == "" && (cfg.AuthEmail == "" || cfg.AuthKey == "") {
			return nil, errors.New("set CF_DNS_API_TOKEN, or CF_API_EMAIL and CF_API_KEY, in the credentials file or the environment")
		}
		p, err := cloudflare.NewDNSProviderConfig(cfg)
		if err != nil {
			return nil, err
		}
		return LegoProvider{Provider: p}, nil
	case "route53":
		cfg := &route53.Config{MaxRetries: 5, TTL: 10, PropagationTimeout: 2 * time.Minute, PollingInterval: 4 * time.Second, WaitForRecordSetsChanged: true}
		for _, f := range []struct {
			dst  *string
			keys []string
		}{
			{&cfg.AccessKeyID, []string{"AWS_ACCESS_KEY_ID", "aws_access_key_id"}},
			{&cfg.SecretAccessKey, []string{"AWS_SECRET_ACCESS_KEY", "aws_secret_access_key"}},
			{&cfg.SessionToken, []string{"AWS_SESSION_TOKEN", "aws_session_token"}},
			{&cfg.Region, []string{"AWS_REGION", "region"}},
			{&cfg.HostedZoneID, []string{"AWS_HOSTED_ZONE_ID"}},
			{&cfg.AssumeRoleArn, []string{"AWS_ASSUME_ROLE_ARN"}},
		} {
			v, err := c.get(f.keys...)
			if err != nil {
				return nil, err
			}
			*f.dst = v
		}
		p, err := route53.NewDNSProviderConfig(cfg)
		if err != nil {
			return nil, err
		}
		return LegoProvider{Provider: p}, nil
	case "exec":
		auth, err := c.require("auth hook", "CONDO_DNS_AUTH_HOOK", "auth_hook")
		if err != nil {
			return nil, err
		}
		cleanup, err := c.get("CONDO_DNS_CLEANUP_HOOK", "cleanup_hook")
		if err != nil {
			return nil, err
		}
		return &ExecProvider{AuthHook: auth, CleanupHook: cleanup}, nil
	case "manual":
		return &ManualProvider{}, nil
	}
	return nil, fmt.Errorf("unknown DNS provider (want one of %s)", strings.Join(DNSProviderNames(), ", "))
}
