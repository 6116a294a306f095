package condocert_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condocert"
	"github.com/condo-dev/condo/condomigrate"
)

// A server with a wildcard certificate for its base domain, obtained over
// DNS-01 from DigitalOcean, and on-demand certificates for tenants'
// verified domains. It needs the network, so it only compiles.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	migrator, err := condomigrate.New(pool, nil)
	if err != nil {
		log.Fatal(err)
	}
	// The tenant registry decides which custom domains get certificates.
	reg := condo.NewRegistry(pool, migrator, nil)
	key, err := condocert.LoadKey("", os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	dns, err := condocert.NewDNSProvider("digitalocean", "/etc/condo/digitalocean.ini", os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	m, err := condocert.New(pool, &condocert.Config{
		BaseDomains:   []string{"mywebsite.com"},
		Email:         "ops@mywebsite.com",
		DNSProvider:   dns,
		EncryptionKey: key,
		OnDemand:      &condocert.OnDemandConfig{AllowFunc: condocert.RegistryAllow(reg)},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer m.Stop(ctx)
	srv := &http.Server{Addr: ":443", TLSConfig: m.TLSConfig(), Handler: http.NotFoundHandler()}
	log.Fatal(srv.ListenAndServeTLS("", ""))
}

func ExampleVerificationRecord() {
	name, value := condocert.VerificationRecord("shop.example.org", "k3n6q2")
	fmt.Printf("%s TXT %q\n", name, value)
	fmt.Println(condocert.VerificationURL("shop.example.org", "k3n6q2"))
	// Output:
	// _condo-challenge.shop.example.org TXT "k3n6q2"
	// http://shop.example.org/.well-known/condo-verify/k3n6q2
}

func ExampleCertbotFiles() {
	f := condocert.CertbotFiles("/etc/letsencrypt", "mywebsite.com")
	fmt.Println(f.CertFile)
	fmt.Println(f.KeyFile)
	// Output:
	// /etc/letsencrypt/live/mywebsite.com/fullchain.pem
	// /etc/letsencrypt/live/mywebsite.com/privkey.pem
}

func ExampleParseKey() {
	key, err := condocert.ParseKey(condocert.NewKey())
	fmt.Println(len(key), err)
	_, err = condocert.ParseKey("too short")
	fmt.Println(err)
	// Output:
	// 32 <nil>
	// want 32 bytes as 64 hex digits or base64
}
