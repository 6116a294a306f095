package condofiles_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condofiles"
	"github.com/condo-dev/condo/condotest"
)

var (
	acme   = &condo.Tenant{ID: 1, Slug: "acme", Name: "Acme", Schema: "tenant_1"}
	globex = &condo.Tenant{ID: 2, Slug: "globex", Name: "Globex", Schema: "tenant_2"}
)

// pngBytes is a 1×1 PNG: enough for http.DetectContentType.
var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\x00\x01\x00\x00\x05\x00\x01\r\n-\xb4\x00\x00\x00\x00IEND\xaeB`\x82")

// backends runs a test against each backend: a temporary directory and
// a real S3 server (versitygw).
func backends(t *testing.T, test func(t *testing.T, b condofiles.Backend)) {
	t.Run("local", func(t *testing.T) {
		t.Parallel()
		b, err := condofiles.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		test(t, b)
	})
	t.Run("s3", func(t *testing.T) {
		t.Parallel()
		test(t, newS3Backend(t))
	})
}

func newS3Backend(t testing.TB) *condofiles.S3 {
	s := condotest.NewS3(t)
	client := condofiles.NewS3Client(condofiles.S3ClientOpts{Endpoint: s.Endpoint, Region: s.Region,
		AccessKey: s.AccessKey, SecretKey: s.SecretKey, PathStyle: true})
	return condofiles.NewS3(client, s.Bucket)
}

func in(t *condo.Tenant) context.Context { return condo.WithTenant(context.Background(), t) }

func put(t *testing.T, f *condofiles.Files, tn *condo.Tenant, key, body string) {
	t.Helper()
	if _, err := f.Put(in(tn), key, strings.NewReader(body), nil); err != nil {
		t.Fatalf("put %s %q: %v", tn.Slug, key, err)
	}
}

func read(t *testing.T, f *condofiles.Files, ctx context.Context, key string) (string, error) {
	t.Helper()
	rc, _, err := f.Open(ctx, key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), nil
}

func TestIsolation(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b condofiles.Backend) {
		f := condofiles.New(b, nil)
		put(t, f, acme, "docs/plan.txt", "acme's plan")
		put(t, f, globex, "docs/other.txt", "globex's")

		if got, err := read(t, f, in(acme), "docs/plan.txt"); err != nil || got != "acme's plan" {
			t.Fatalf("acme reads its file: got %q, %v", got, err)
		}
		// The same key from globex: not found, never acme's bytes.
		if _, err := read(t, f, in(globex), "docs/plan.txt"); !errors.Is(err, condofiles.ErrNotFound) {
			t.Fatalf("globex reads acme's key: got %v, want ErrNotFound", err)
		}
		// Every way of naming acme's object from globex is refused
		// before it reaches the backend.
		for _, key := range []string{"../tenant_1/docs/plan.txt", "/tenant_1/docs/plan.txt",
			"docs/../../tenant_1/docs/plan.txt", "..%2ftenant_1%2fdocs%2fplan.txt", `..\tenant_1\docs\plan.txt`} {
			if _, err := read(t, f, in(globex), key); !errors.Is(err, condofiles.ErrInvalidKey) {
				t.Errorf("globex opens %q: got %v, want ErrInvalidKey", key, err)
			}
			if _, err := f.Put(in(globex), key, strings.NewReader("x"), nil); !errors.Is(err, condofiles.ErrInvalidKey) {
				t.Errorf("globex writes %q: got %v, want ErrInvalidKey", key, err)
			}
		}
		list, err := f.List(in(globex), "")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"docs/other.txt"}, keys(list)); diff != "" {
			t.Errorf("globex's list (-want +got):\n%s", diff)
		}
		// No tenant, no files.
		if _, err := f.Put(context.Background(), "a.txt", strings.NewReader("x"), nil); !errors.Is(err, condo.ErrNoTenant) {
			t.Errorf("put without tenant: got %v, want ErrNoTenant", err)
		}
		if _, err := f.List(context.Background(), ""); !errors.Is(err, condo.ErrNoTenant) {
			t.Errorf("list without tenant: got %v, want ErrNoTenant", err)
		}
	})
}

func keys(objs []condofiles.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Key)
	}
	return out
}

func TestPutLimitAndType(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b condofiles.Backend) {
		f := condofiles.New(b, &condofiles.Config{MaxSize: 100})
		ctx := in(acme)
		_, err := f.Put(ctx, "big.bin", bytes.NewReader(make([]byte, 101)), nil)
		if !errors.Is(err, condofiles.ErrTooLarge) {
			t.Fatalf("101 bytes over a 100 limit: got %v, want ErrTooLarge", err)
		}
		if _, err := f.Stat(ctx, "big.bin"); !errors.Is(err, condofiles.ErrNotFound) {
			t.Errorf("a refused upload left something: %v", err)
		}
		// The limit is enforced while streaming: an endless body costs
		// limit+1 bytes.
		if _, err := f.Put(ctx, "endless.bin", endless{}, nil); !errors.Is(err, condofiles.ErrTooLarge) {
			t.Fatalf("endless body: got %v, want ErrTooLarge", err)
		}
		if _, err := f.Put(ctx, "exact.bin", bytes.NewReader(make([]byte, 100)), nil); err != nil {
			t.Fatalf("100 bytes: %v", err)
		}

		images := &condofiles.PutOpts{ContentTypes: []string{"image/png", "image/jpeg"}}
		o, err := f.Put(ctx, "photos/p.png", bytes.NewReader(pngBytes), images)
		if err != nil {
			t.Fatal(err)
		}
		if o.ContentType != "image/png" || o.Size != int64(len(pngBytes)) {
			t.Errorf("put png: got %+v", o)
		}
		// A page named .png is still a page: sniffed, refused.
		_, err = f.Put(ctx, "photos/evil.png", strings.NewReader("<html><script>alert(1)</script>"), images)
		if !errors.Is(err, condofiles.ErrContentType) {
			t.Errorf("html as png: got %v, want ErrContentType", err)
		}
		st, err := f.Stat(ctx, "photos/p.png")
		if err != nil {
			t.Fatal(err)
		}
		if st.ContentType != "image/png" || st.Size != int64(len(pngBytes)) || st.Key != "photos/p.png" {
			t.Errorf("stat: got %+v", st)
		}
	})
}

type endless struct{}

func (endless) Read(p []byte) (int, error) { return len(p), nil }

func TestUsagePurgeExport(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b condofiles.Backend) {
		f := condofiles.New(b, nil)
		put(t, f, acme, "a.txt", "12345")
		put(t, f, acme, "dir/b.txt", "123")
		put(t, f, globex, "a.txt", "1")

		u, err := f.Usage(in(acme))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(condofiles.Usage{Objects: 2, Bytes: 8}, u); diff != "" {
			t.Errorf("acme's usage (-want +got):\n%s", diff)
		}

		var archive bytes.Buffer
		if err := f.Export(context.Background(), acme, &archive); err != nil {
			t.Fatal(err)
		}
		if err := f.Delete(in(acme), "a.txt"); err != nil {
			t.Fatal(err)
		}
		if err := f.Delete(in(acme), "a.txt"); err != nil {
			t.Fatalf("deleting a missing file: %v", err)
		}
		if err := f.Purge(context.Background(), acme); err != nil {
			t.Fatal(err)
		}
		if u, _ := f.Usage(in(acme)); u != (condofiles.Usage{}) {
			t.Errorf("acme after purge: got %+v, want nothing", u)
		}
		if got, err := read(t, f, in(globex), "a.txt"); err != nil || got != "1" {
			t.Errorf("globex's file after acme's purge: got %q, %v", got, err)
		}

		// The export restores under a new tenant.
		initech := &condo.Tenant{ID: 3, Slug: "initech"}
		if err := f.Import(context.Background(), initech, &archive); err != nil {
			t.Fatal(err)
		}
		if u, _ := f.Usage(in(initech)); u != (condofiles.Usage{Objects: 2, Bytes: 8}) {
			t.Errorf("imported: got %+v", u)
		}
		if got, err := read(t, f, in(initech), "dir/b.txt"); err != nil || got != "123" {
			t.Errorf("imported file: got %q, %v", got, err)
		}
	})
}

func TestImportRefusesEscapes(t *testing.T) {
	t.Parallel()
	b, err := condofiles.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := condofiles.New(b, nil)
	for _, name := range []string{"../tenant_1/x", "/etc/x", "a/./b"} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: 1, Typeflag: tar.TypeReg})
		tw.Write([]byte("x"))
		tw.Close()
		if err := f.Import(context.Background(), globex, &buf); !errors.Is(err, condofiles.ErrInvalidKey) {
			t.Errorf("import of %q: got %v, want ErrInvalidKey", name, err)
		}
	}
}

// hostTenants stands in for the tenant middleware: the Host picks the
// tenant, as condohttp's resolver does.
func hostTenants(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Host {
		case "acme.test":
			r = r.WithContext(condo.WithTenant(r.Context(), acme))
		case "globex.test":
			r = r.WithContext(condo.WithTenant(r.Context(), globex))
		}
		h.ServeHTTP(w, r)
	})
}

func get(t *testing.T, srv *httptest.Server, host, path string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestSignedURLs(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b condofiles.Backend) {
		f := condofiles.New(b, &condofiles.Config{ServeThroughServer: true})
		srv := httptest.NewServer(hostTenants(f.Handler()))
		t.Cleanup(srv.Close)
		if _, err := f.Put(in(acme), "photos/p.png", bytes.NewReader(pngBytes), nil); err != nil {
			t.Fatal(err)
		}
		put(t, f, acme, "page.html", "<html><script>alert(1)</script>")
		u, err := f.URL(in(acme), "photos/p.png")
		if err != nil {
			t.Fatal(err)
		}
		code, h, body := get(t, srv, "acme.test", u)
		if code != 200 || body != string(pngBytes) || h.Get("Content-Type") != "image/png" || h.Get("Content-Disposition") != "" {
			t.Fatalf("acme's signed URL: got %d %v", code, h)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("no nosniff: %v", h)
		}
		// The same URL on globex's host, a forged key, an altered
		// signature, an expired one, no tenant: all 404.
		forged := strings.Replace(u, "photos/p.png", "photos/q.png", 1)
		expired := strings.Replace(u, "e=", "e=1&x=", 1)
		for name, c := range map[string]struct{ host, path string }{
			"globex's host": {"globex.test", u},
			"forged key":    {"acme.test", forged},
			"bad signature": {"acme.test", u[:len(u)-2] + "AA"},
			"expired":       {"acme.test", expired},
			"unknown host":  {"nobody.test", u},
			"no signature":  {"acme.test", "/files/photos/p.png"},
		} {
			if code, _, _ := get(t, srv, c.host, c.path); code != http.StatusNotFound {
				t.Errorf("%s: got %d, want 404", name, code)
			}
		}
		// An uploaded page is sent as an attachment, sandboxed.
		u, _ = f.URL(in(acme), "page.html")
		code, h, _ = get(t, srv, "acme.test", u)
		if code != 200 || h.Get("Content-Disposition") != "attachment" || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") {
			t.Errorf("html file: got %d %v, want an attachment with a sandbox CSP", code, h)
		}
	})
}

func TestPresignedS3URL(t *testing.T) {
	t.Parallel()
	f := condofiles.New(newS3Backend(t), nil)
	if _, err := f.Put(in(acme), "photos/p.png", bytes.NewReader(pngBytes), nil); err != nil {
		t.Fatal(err)
	}
	u, err := f.URL(in(acme), "photos/p.png")
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(u string) (int, string) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := fetch(u); code != 200 || body != string(pngBytes) {
		t.Fatalf("presigned URL: got %d %q", code, body)
	}
	// The server checks the signature: another key under the same
	// signature is refused.
	if code, _ := fetch(strings.Replace(u, "tenant_1", "tenant_2", 1)); code != http.StatusForbidden {
		t.Errorf("presigned URL for another tenant's prefix: got %d, want 403", code)
	}
}

// TestWithSigningKey: a URL signed by one instance is honoured by another
// with the same key (what an application deriving the key from its
// database gets), and refused by one with another key.
func TestWithSigningKey(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b condofiles.Backend) {
		base := condofiles.New(b, &condofiles.Config{ServeThroughServer: true})
		one := base.WithSigningKey([]byte("the database's secret, derived"))
		two := condofiles.New(b, &condofiles.Config{ServeThroughServer: true}).WithSigningKey([]byte("the database's secret, derived"))
		other := base.WithSigningKey([]byte("another key"))
		if _, err := one.Put(in(acme), "photos/p.png", bytes.NewReader(pngBytes), nil); err != nil {
			t.Fatal(err)
		}
		u, err := one.URL(in(acme), "photos/p.png")
		if err != nil {
			t.Fatal(err)
		}
		for name, c := range map[string]struct {
			f    *condofiles.Files
			want int
		}{
			"same key, another instance": {two, http.StatusOK},
			"another key":                {other, http.StatusNotFound},
			"the default random key":     {base, http.StatusNotFound},
		} {
			srv := httptest.NewServer(hostTenants(c.f.Handler()))
			code, _, body := get(t, srv, "acme.test", u)
			srv.Close()
			if code != c.want || (c.want == http.StatusOK && body != string(pngBytes)) {
				t.Errorf("%s: got %d, want %d", name, code, c.want)
			}
		}
	})
}
