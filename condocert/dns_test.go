package condocert_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condotest"
)

func TestExecProvider(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "calls")
	hook := filepath.Join(dir, "hook.sh")
	script := "#!/bin/sh\necho \"$CONDO_DNS_ACTION $CERTBOT_DOMAIN $CONDO_DNS_NAME $CERTBOT_VALIDATION auth=$CERTBOT_AUTH_OUTPUT\" >> " + out + "\necho record-id-42\n"
	if err := os.WriteFile(hook, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	p := &condocert.ExecProvider{AuthHook: hook}
	ch := condocert.DNSChallenge{Domain: "example.com", Name: "_acme-challenge.example.com", Value: "v4lue"}
	if err := p.Present(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	if err := p.CleanUp(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	want := "present example.com _acme-challenge.example.com v4lue auth=\ncleanup example.com _acme-challenge.example.com v4lue auth=record-id-42\n"
	if string(got) != want {
		t.Errorf("hook calls:\n%s\nwant:\n%s", got, want)
	}

	failing := filepath.Join(dir, "fail.sh")
	_ = os.WriteFile(failing, []byte("#!/bin/sh\necho 'API said no' >&2\nexit 3\n"), 0o755)
	err := (&condocert.ExecProvider{AuthHook: failing}).Present(t.Context(), ch)
	if err == nil || !strings.Contains(err.Error(), "API said no") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("failing hook: %v", err)
	}
}

func TestManualProvider(t *testing.T) {
	t.Parallel()
	ch := condocert.DNSChallenge{Domain: "m.example.test", Name: "_acme-challenge.m.example.test", Value: "manual-value"}
	t.Run("enter", func(t *testing.T) {
		t.Parallel()
		var out bytes.Buffer
		p := &condocert.ManualProvider{In: strings.NewReader("\n"), Out: &out, Resolvers: []string{"127.0.0.1:1"}}
		if err := p.Present(t.Context(), ch); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), `_acme-challenge.m.example.test.  60  IN  TXT  "manual-value"`) {
			t.Errorf("printed: %s", out.String())
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := p.Wait(ctx, ch); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("record seen", func(t *testing.T) {
		t.Parallel()
		k := startKnot(t)
		r, w := io.Pipe() // nobody presses Enter
		defer w.Close()
		p := &condocert.ManualProvider{In: r, Out: io.Discard, Resolvers: []string{k.Addr}}
		done := make(chan error, 1)
		go func() { done <- p.Wait(t.Context(), ch) }()
		// The human creates the record (here: through RFC 2136).
		if err := k.provider().Present(t.Context(), ch); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Wait did not return after the record appeared")
		}
	})
}

func TestNewDNSProvider(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The certbot ini file of the tutorial works unchanged.
	ini := filepath.Join(dir, "digitalocean.ini")
	_ = os.WriteFile(ini, []byte("# DigitalOcean API credentials used by Certbot\ndns_digitalocean_token = 0000111122223333444455556666777788889999aaaabbbbccccddddeeeeffff\n"), 0o600)
	noenv := func(string) string { return "" }

	if p, err := condocert.NewDNSProvider("digitalocean", ini, noenv); err != nil || p == nil {
		t.Errorf("digitalocean from certbot ini: %v", err)
	}
	env := map[string]string{"CF_DNS_API_TOKEN": "cf-secret-token"}
	if _, err := condocert.NewDNSProvider("cloudflare", "", func(k string) string { return env[k] }); err != nil {
		t.Errorf("cloudflare from env: %v", err)
	}
	keyFile := filepath.Join(dir, "tsig")
	_ = os.WriteFile(keyFile, []byte("c2VjcmV0\n"), 0o600)
	env2 := map[string]string{"RFC2136_NAMESERVER": "127.0.0.1:5353", "RFC2136_TSIG_KEY": "k", "RFC2136_TSIG_SECRET_FILE": keyFile}
	p, err := condocert.NewDNSProvider("rfc2136", "", func(k string) string { return env2[k] })
	if err != nil {
		t.Fatal(err)
	}
	if rp := p.(*condocert.RFC2136Provider); rp.Secret != "c2VjcmV0" || rp.Server != "127.0.0.1:5353" {
		t.Errorf("rfc2136: %+v", rp)
	}
	if _, err := condocert.NewDNSProvider("route53", "", noenv); err != nil {
		t.Errorf("route53 with the SDK's default chain: %v", err)
	}
	if _, err := condocert.NewDNSProvider("exec", "", func(k string) string { return map[string]string{"CONDO_DNS_AUTH_HOOK": "/bin/true"}[k] }); err != nil {
		t.Errorf("exec: %v", err)
	}

	for name, tc := range map[string]struct {
		provider, file string
		env            map[string]string
		wantInErr      string
	}{
		"missing token":   {provider: "digitalocean", wantInErr: "DO_AUTH_TOKEN"},
		"unknown":         {provider: "bind9", wantInErr: "rfc2136, digitalocean"},
		"bad algorithm":   {provider: "rfc2136", env: map[string]string{"RFC2136_NAMESERVER": "x", "RFC2136_TSIG_KEY": "k", "RFC2136_TSIG_SECRET": "s3cr3t-value", "RFC2136_TSIG_ALGORITHM": "md5"}, wantInErr: "algorithm"},
		"bad credentials": {provider: "digitalocean", file: "bad", wantInErr: "line 1"},
	} {
		file := ""
		if tc.file != "" {
			file = filepath.Join(dir, "bad.ini")
			_ = os.WriteFile(file, []byte("s3cr3t-value\n"), 0o600)
		}
		_, err := condocert.NewDNSProvider(tc.provider, file, func(k string) string { return tc.env[k] })
		if err == nil || !strings.Contains(err.Error(), tc.wantInErr) {
			t.Errorf("%s: got %v, want an error mentioning %q", name, err, tc.wantInErr)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: error shows the secret: %v", name, err)
		}
	}
}

// TestExecProviderIssuance: a certbot-style hook script, which updates
// the DNS server with nsupdate (or Knot's knsupdate, whose input language
// is the same), gets the wildcard and apex certificates issued and served,
// and removes its records afterwards.
func TestExecProviderIssuance(t *testing.T) {
	t.Parallel()
	nsupdate := requireTool(t, "nsupdate", "knsupdate")
	e := newEnv(t, "exec", pebbleOpts{})
	host, port, _ := strings.Cut(e.knot.Addr, ":")
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	hook := filepath.Join(dir, "dns-hook.sh")
	// The TSIG secret goes through stdin, so it shows in no process list.
	script := fmt.Sprintf(`#!/bin/sh
set -eu
case "$CONDO_DNS_ACTION" in
present) op="add $CONDO_DNS_NAME. 60" ;;
cleanup) op="delete $CONDO_DNS_NAME." ;;
*) echo "unknown action $CONDO_DNS_ACTION" >&2; exit 2 ;;
esac
%s <<EOF
server %s %s
zone example.test.
key hmac-sha256:%s %s
update $op TXT "$CERTBOT_VALIDATION"
send
EOF
echo "$CONDO_DNS_ACTION $CONDO_DNS_NAME" >> %s
`, nsupdate, host, port, e.knot.KeyName, e.knot.Secret, calls)
	if err := os.WriteFile(hook, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := e.config(true)
	cfg.DNSProvider = &condocert.ExecProvider{AuthHook: hook, Timeout: 20 * time.Second}
	m := newManager(t, e.db.Pool, cfg)
	if err := m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := m.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, m, nil)
	if got := e.ca.finals.Load(); got != 2 {
		t.Errorf("issuances: got %d, want 2 (wildcard and apex)", got)
	}
	for name, want := range map[string]string{"a." + e.base: "*." + e.base, e.base: e.base} {
		body, err := get(addr, name, e.ca.Root)
		if err != nil || body != "hello "+name {
			t.Errorf("GET https://%s/: %q, %v", name, body, err)
		}
		leaf, err := handshake(addr, name, e.ca.Root)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(leaf.DNSNames, ","); got != want {
			t.Errorf("%s: certificate names %q, want %s", name, got, want)
		}
	}
	// Both challenges (one per certificate, same record name) were
	// presented and cleaned up by the hook, and nothing is left in DNS.
	challenge := "_acme-challenge." + e.base
	condotest.WaitFor(t, 10*time.Second, "the hook's cleanup", func() error {
		if txt := lookupTXT(t, e.knot.Addr, challenge); len(txt) != 0 {
			return fmt.Errorf("records left: %q", txt)
		}
		return nil
	})
	b, _ := os.ReadFile(calls)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	slices.Sort(lines)
	want := []string{"cleanup " + challenge, "cleanup " + challenge, "present " + challenge, "present " + challenge}
	if !slices.Equal(lines, want) {
		t.Errorf("hook calls: got %q, want %q", lines, want)
	}
}
