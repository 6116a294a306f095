package condocert_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/condo-dev/condo/condocert"
)

// BenchmarkW7Handshake measures new-connection TLS handshakes per second
// (full handshakes, no resumption, client and server in this process)
// with 1 and with 10,000 custom-domain certificates loaded: certificate
// lookup must stay O(1), so the rates should be within 10 %.
func BenchmarkW7Handshake(b *testing.B) {
	ca := newTestCA(b)
	for _, n := range []int{1, 10000} {
		b.Run(fmt.Sprintf("certs=%d", n), func(b *testing.B) {
			m, names := benchManager(b, ca, n)
			_, addr := listenTLS(b, m.TLSConfig())
			dialer := &net.Dialer{Timeout: 5 * time.Second}
			i := 0
			for b.Loop() {
				name := names[i%n]
				i++
				raw, err := dialer.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				c := tls.Client(raw, &tls.Config{ServerName: name, RootCAs: ca.pool, NextProtos: []string{"http/1.1"}})
				if err := c.Handshake(); err != nil {
					b.Fatalf("%s: %v", name, err)
				}
				if got := c.ConnectionState().PeerCertificates[0].DNSNames[0]; got != name {
					b.Fatalf("got certificate for %s, want %s", got, name)
				}
				c.Close()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
		})
	}
}

// BenchmarkW7GetCertificate isolates the server's certificate lookup (the
// part of a handshake that depends on how many certificates are loaded).
func BenchmarkW7GetCertificate(b *testing.B) {
	ca := newTestCA(b)
	for _, n := range []int{1, 10000} {
		b.Run(fmt.Sprintf("certs=%d", n), func(b *testing.B) {
			m, names := benchManager(b, ca, n)
			hellos := make([]*tls.ClientHelloInfo, n)
			for i, name := range names {
				hellos[i] = &tls.ClientHelloInfo{ServerName: name, SupportedProtos: []string{"h2"}}
			}
			i := 0
			for b.Loop() {
				c, err := m.GetCertificate(hellos[i%n])
				if err != nil || c == nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// benchManager returns a Manager serving n custom-domain certificates
// issued by ca, and their names.
func benchManager(b *testing.B, ca *testCA, n int) (*condocert.Manager, []string) {
	m := newManager(b, newDatabase(b), &condocert.Config{
		BaseDomains: []string{"bench.example.test"}, Email: "ops@example.test",
		DNSProvider: &condocert.RFC2136Provider{Server: "127.0.0.1:1"}, // never used: nothing is obtained
		OnDemand: &condocert.OnDemandConfig{AllowFunc: func(context.Context, string) (string, error) {
			return "", condocert.ErrHostNotAllowed
		}},
		InsecurePlaintextStorage: true,
		Logger:                   discardLogger(),
	})
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("shop%d.tenant%d.test", i, i)
		certPEM, keyPEM := ca.issue(b, names[i])
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			b.Fatal(err)
		}
		if err := m.AddCertificate(b.Context(), pair); err != nil {
			b.Fatal(err)
		}
	}
	return m, names
}
