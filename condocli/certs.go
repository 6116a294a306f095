package condocli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condostack"
)

// certFlags configure automatic HTTPS; serve and certs share them.
// Credentials never come from flags (they would show in ps): the DNS
// provider's come from a file or the environment, the storage key from a
// file or $CONDO_CERT_KEY.
type certFlags struct {
	baseDomains    []string
	email          string
	ca             string
	staging        bool
	dnsProvider    string
	dnsCredentials string
	dnsResolvers   []string
	keyFile        string
	certFile       string
	certKeyFile    string
	certbotDir     string
	certbot        []string
	onDemand       bool
	tlsALPNPort    int
	httpChallenge  bool
}

// register adds the flags of the certs command: the certificate sources
// and the ACME settings.
func (f *certFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.baseDomains, "base-domain", nil, "base domain to get *.DOMAIN and DOMAIN certificates for over ACME DNS-01 (repeatable)")
	fs.StringVar(&f.certFile, "cert-file", "", "your own certificate chain (PEM), reloaded when it changes")
	fs.StringVar(&f.certKeyFile, "key-file", "", "private key of --cert-file (PEM)")
	f.registerACME(fs)
}

// registerACME adds the flags that serve shares with certs (serve has its
// own --base-domain, --cert-file and --key-file).
func (f *certFlags) registerACME(fs *pflag.FlagSet) {
	fs.StringVar(&f.email, "acme-email", "", "contact e-mail for the ACME account; setting it turns on automatic certificates")
	fs.StringVar(&f.ca, "acme-ca", condocert.LetsEncryptProduction, "ACME directory URL")
	fs.BoolVar(&f.staging, "acme-staging", false, "use Let's Encrypt's staging CA (for trying things out)")
	fs.StringVar(&f.dnsProvider, "dns-provider", "", "DNS provider for DNS-01: "+strings.Join(condocert.DNSProviderNames(), ", "))
	fs.StringVar(&f.dnsCredentials, "dns-credentials", "", "file with the DNS provider's credentials (KEY=value or certbot .ini); else the environment")
	fs.StringArrayVar(&f.dnsResolvers, "dns-resolver", nil, "resolver (host:port) to check challenge records with (repeatable; default: the zone's authoritative servers)")
	fs.StringVar(&f.keyFile, "cert-key-file", "", "file with the key that encrypts certificates' private keys in the database (default $"+condocert.KeyEnv+")")
	fs.StringVar(&f.certbotDir, "certbot-dir", "/etc/letsencrypt", "certbot's directory, for --certbot")
	fs.StringArrayVar(&f.certbot, "certbot", nil, "serve certbot's certificate for this domain (live/DOMAIN/fullchain.pem, privkey.pem; repeatable)")
	fs.BoolVar(&f.onDemand, "on-demand", true, "obtain certificates on demand for tenants' verified custom domains (TLS-ALPN-01)")
	fs.IntVar(&f.tlsALPNPort, "tls-alpn-port", 443, "port where the CA reaches this server's TLS listener")
	fs.BoolVar(&f.httpChallenge, "http-challenge", false, "also answer on-demand HTTP-01 challenges on the plain-HTTP listener (port 80 must reach it)")
}

// acme reports whether automatic certificates are asked for.
func (f *certFlags) acme() bool {
	return f.email != "" || len(f.baseDomains) > 0 && f.dnsProvider != ""
}

// manager builds the certificate manager from the flags.
func (f *certFlags) manager(st *condostack.Stack, getenv func(string) string) (*condocert.Manager, error) {
	cfg, err := f.config(getenv)
	if err != nil {
		return nil, err
	}
	cfg.Logger = st.Logger
	if cfg.OnDemand != nil {
		cfg.OnDemand.AllowFunc = condocert.RegistryAllow(st.Registry)
	}
	return condocert.New(st.Pool, cfg)
}

// config is condocert's configuration from the flags; an on-demand
// AllowFunc is left to the caller (the registry's, over its pool).
func (f *certFlags) config(getenv func(string) string) (*condocert.Config, error) {
	var errs []error
	cfg := &condocert.Config{BaseDomains: f.baseDomains, Email: f.email, CA: f.ca,
		DNSResolvers: f.dnsResolvers}
	if f.staging {
		cfg.CA = condocert.LetsEncryptStaging
	}
	if (f.certFile == "") != (f.certKeyFile == "") {
		errs = append(errs, errors.New("--cert-file and --key-file go together"))
	}
	if f.certFile != "" {
		cfg.Files = append(cfg.Files, condocert.CertFiles{CertFile: f.certFile, KeyFile: f.certKeyFile})
	}
	for _, d := range f.certbot {
		cfg.Files = append(cfg.Files, condocert.CertbotFiles(f.certbotDir, d))
	}
	if len(f.baseDomains) > 0 {
		if f.dnsProvider == "" {
			errs = append(errs, errors.New("--base-domain needs --dns-provider for DNS-01 challenges"))
		} else {
			p, err := condocert.NewDNSProvider(f.dnsProvider, f.dnsCredentials, getenv)
			if err != nil {
				errs = append(errs, err)
			}
			cfg.DNSProvider = p
		}
	}
	key, err := condocert.LoadKey(f.keyFile, getenv)
	switch {
	case err == nil:
		cfg.EncryptionKey = key
	case errors.Is(err, condocert.ErrNoKey) && !f.acme() && len(cfg.Files) > 0:
		// Serving files only: nothing secret is ever stored.
		cfg.InsecurePlaintextStorage = true
	default:
		errs = append(errs, fmt.Errorf("certificate storage key: %w (make one with `certs genkey`)", err))
	}
	if f.onDemand && f.acme() {
		cfg.OnDemand = &condocert.OnDemandConfig{TLSALPNPort: f.tlsALPNPort, HTTPChallenge: f.httpChallenge}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cfg, nil
}

func newCertsCmd(c *CLI) *cobra.Command {
	f := &certFlags{}
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Obtain, renew, list, revoke and import TLS certificates (stored in PostgreSQL)",
	}
	f.register(cmd.PersistentFlags())
	// withManager runs fn with a started manager (which loads what the
	// database holds) and stops it afterwards.
	withManager := func(fn func(ctx context.Context, cmd *cobra.Command, m *condocert.Manager, args []string) error) func(*cobra.Command, []string) error {
		return c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, args []string) error {
			f.onDemand = false // one-shot commands never answer handshakes
			m, err := f.manager(st, c.cfg.Getenv)
			if err != nil {
				return err
			}
			defer func() { _ = m.Stop(context.WithoutCancel(ctx)) }()
			return fn(ctx, cmd, m, args)
		})
	}
	obtain := &cobra.Command{
		Use:   "obtain [NAME...]",
		Short: "Obtain certificates now (default: *.BASE and BASE for every --base-domain)",
		RunE: withManager(func(ctx context.Context, cmd *cobra.Command, m *condocert.Manager, args []string) error {
			if err := m.Obtain(ctx, args...); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "certificates obtained and stored")
			return nil
		}),
	}
	var force bool
	renew := &cobra.Command{
		Use:   "renew [NAME...]",
		Short: "Renew certificates that are due (or all with --force)",
		RunE: withManager(func(ctx context.Context, cmd *cobra.Command, m *condocert.Manager, args []string) error {
			if err := m.Renew(ctx, force, args...); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "renewal done")
			return nil
		}),
	}
	renew.Flags().BoolVar(&force, "force", false, "renew even when not due")
	list := &cobra.Command{
		Use:   "list",
		Short: "List stored certificates",
		Args:  cobra.NoArgs,
		RunE: withManager(func(ctx context.Context, cmd *cobra.Command, m *condocert.Manager, _ []string) error {
			certs, err := m.List(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAMES\tSOURCE\tISSUER\tSERIAL\tNOT AFTER")
			for _, c := range certs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", strings.Join(c.Names, ","), c.Source, c.Issuer, c.Serial, c.NotAfter.Format(time.RFC3339))
			}
			return tw.Flush()
		}),
	}
	var reason int
	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke the certificate for NAME at the CA",
		Args:  Args("NAME"),
		RunE: withManager(func(ctx context.Context, cmd *cobra.Command, m *condocert.Manager, args []string) error {
			if err := m.Revoke(ctx, args[0], reason); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", args[0])
			return nil
		}),
	}
	revoke.Flags().IntVar(&reason, "reason", condocert.ReasonUnspecified, "RFC 5280 reason code (1 key compromise, 4 superseded, 5 cessation of operation)")
	var certPath, keyPath string
	imp := &cobra.Command{
		Use:   "import --cert fullchain.pem --key privkey.pem",
		Short: "Store your own certificate in the database for every server instance",
		Args:  cobra.NoArgs,
		RunE: withManager(func(ctx context.Context, cmd *cobra.Command, m *condocert.Manager, _ []string) error {
			if certPath == "" || keyPath == "" {
				return errors.New("--cert and --key are required")
			}
			certPEM, err := os.ReadFile(certPath)
			if err != nil {
				return err
			}
			keyPEM, err := os.ReadFile(keyPath)
			if err != nil {
				return err
			}
			info, err := m.Import(ctx, certPEM, keyPEM)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %s (serial %s, until %s)\n", strings.Join(info.Names, ","), info.Serial, info.NotAfter.Format(time.DateOnly))
			return nil
		}),
	}
	imp.Flags().StringVar(&certPath, "cert", "", "certificate chain (PEM)")
	imp.Flags().StringVar(&keyPath, "key", "", "private key (PEM)")
	genkey := &cobra.Command{
		Use:   "genkey",
		Short: "Print a new storage encryption key (for $" + condocert.KeyEnv + " or --cert-key-file)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), condocert.NewKey())
			return nil
		},
	}
	var newKeyFile string
	rotate := &cobra.Command{
		Use:   "rotate-key --new-key-file FILE",
		Short: "Re-encrypt every stored certificate, key and account with a new storage key",
		Long: `Re-encrypt everything in the certificate storage with the key in --new-key-file
(make one with genkey). The current key comes from --cert-key-file or $` + condocert.KeyEnv + `.
It is all or nothing: if anything does not decrypt with the current key, nothing
changes. Restart every server instance with the new key right afterwards.`,
		Args: cobra.NoArgs,
		RunE: c.run(func(ctx context.Context, cmd *cobra.Command, st *condostack.Stack, _ []string) error {
			if newKeyFile == "" {
				return errors.New("--new-key-file is required (make a key with `certs genkey`)")
			}
			oldKey, err := condocert.LoadKey(f.keyFile, c.cfg.Getenv)
			if err != nil {
				return fmt.Errorf("current certificate storage key: %w", err)
			}
			newKey, err := condocert.LoadKey(newKeyFile, nil)
			if err != nil {
				return fmt.Errorf("new certificate storage key: %w", err)
			}
			n, err := condocert.RotateKey(ctx, st.Pool, oldKey, newKey)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "re-encrypted %d stored values with the new key; restart every server with it (--cert-key-file %s or $%s)\n",
				n, newKeyFile, condocert.KeyEnv)
			return nil
		}),
	}
	rotate.Flags().StringVar(&newKeyFile, "new-key-file", "", "file with the new storage key")
	cmd.AddCommand(obtain, renew, list, revoke, imp, genkey, rotate)
	return cmd
}
