// Package condocert gives a Condo server automatic HTTPS: a wildcard
// certificate for every base domain (so each tenant's subdomain is covered
// at once), certificates on demand for tenants' own domains, and
// certificates brought by the operator, all kept in PostgreSQL and shared
// by every server instance.
//
// It wraps [github.com/caddyserver/certmagic] behind a few small types,
// so that certmagic's API stays inside this package.
//
// # Base domains
//
// A [Manager] obtains *.base and base for each of [Config.BaseDomains]
// from an ACME CA (Let's Encrypt by default) over DNS-01, the only
// challenge that can prove control of a wildcard. The TXT records are
// created by a [DNSProvider]: [RFC2136Provider] (any DNS server that takes
// dynamic updates signed with TSIG: BIND, Knot, PowerDNS), DigitalOcean,
// Cloudflare and Route53 through lego ([LegoProvider]), [ExecProvider]
// (a certbot-style hook script) or [ManualProvider] (a human).
// [NewDNSProvider] builds one by name, with secrets read from a
// credentials file or the environment, never from flags.
//
// Certificates are renewed in the background, early (at the time the CA
// suggests through ACME Renewal Information, ARI, or in the last third of
// their lifetime), and swapped in without a restart. When the CA or the
// DNS provider fails, the current certificate keeps being served and the
// attempt is retried with back-off (1 min, 2 min, … up to 6 h), with one
// error logged per attempt.
//
// # Tenants' own domains
//
// With [Config.OnDemand] set, a custom domain gets a certificate on its
// first TLS handshake, over TLS-ALPN-01 or, with
// [OnDemandConfig.HTTPChallenge], HTTP-01 answered by
// [Manager.HTTPChallengeHandler] on port 80 (either way the domain must
// point at the server already). An [AllowFunc] decides which names qualify;
// [RegistryAllow] allows only verified domains of active tenants, as the
// tenant registry ([condo.Registry]) knows them. Decisions are rate-limited per client address and
// per tenant, and an unknown name never reaches the CA: random SNI names
// cannot exhaust the CA's rate limits.
//
// A tenant proves control of a custom domain first, by a TXT record
// _condo-challenge.<host> or an HTTP token at /.well-known/condo-verify/;
// see [VerifyDomain] and [VerifyHandler]. condocert reads and writes no
// table of the registry's: it asks the registry (domain lookups, host
// decisions, recording a proof, which the registry announces).
//
// # Storage and clusters
//
// [Storage] implements certmagic's Storage in the public schema
// (public.condo_cert_storage, public.condo_cert_locks, created by Condo's
// shared migrations). Every value (private keys, ACME account keys,
// certificates) is encrypted with AES-256-GCM under a key from
// $CONDO_CERT_KEY or a file ([LoadKey]); [RotateKey] re-encrypts
// everything under a new key at once (`condo certs rotate-key`). A
// cluster-wide lock, held as a row with a renewed lease, lets only one
// instance talk to the CA for a given name; the others wait and then load
// its certificate.
//
// # Bring your own certificate
//
// [Config.Files] serves certificate files, such as certbot's
// /etc/letsencrypt/live/DOMAIN/ ([CertbotFiles]), and reloads them when
// they change. [Manager.Import] stores a certificate in the database for
// all instances.
//
// # Development
//
// [DevCA] is a local CA for *.localhost, kept in a state directory; print
// [DevCA.TrustCommand] once so browsers trust it.
//
// # Operations
//
// [Manager.Obtain], [Manager.Renew], [Manager.List], [Manager.Revoke] and
// [Manager.Import] are the operations behind `condo certs`.
package condocert
