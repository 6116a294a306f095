package condo_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/condo-dev/condo"
)

func TestNormalizeHost(t *testing.T) {
	t.Parallel()
	ok := []struct{ in, want string }{
		{"acme.example.com", "acme.example.com"},
		{"ACME.Example.COM", "acme.example.com"},
		{"acme.example.com.", "acme.example.com"},
		{"acme.example.com:8443", "acme.example.com"},
		{"Acme.Example.Com.:80", "acme.example.com"},
		{"acme.example.com:", "acme.example.com"},
		{"bücher.example", "xn--bcher-kva.example"},
		{"BÜCHER.example:443", "xn--bcher-kva.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"XN--BCHER-KVA.example", "xn--bcher-kva.example"},
		{"例え.テスト", "xn--r8jz45g.xn--zckzah"},
		{"a-b.c-d.io", "a-b.c-d.io"},
		{"t0001.example.test", "t0001.example.test"},
		{"123.example.com", "123.example.com"},
	}
	for _, tc := range ok {
		got, err := condo.NormalizeHost(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeHost(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	bad := []string{
		"", ".", "..", ":80", "localhost", "acme..example.com", ".acme.example.com",
		"acme.example.com..", "-acme.example.com", "acme-.example.com",
		"ac_me.example.com", "acme.example.com:http", "acme.example.com:123456",
		"127.0.0.1", "127.0.0.1:8080", "[::1]", "[::1]:443", "a b.example.com",
		"acme.example.com/x", "acme@example.com", "acme.example.com\x00",
		strings.Repeat("a", 64) + ".example.com",
		strings.Repeat("abcdefghi.", 26) + "com",
		"xn--zz.example.com", "xn--.example.com", "\xff.example.com",
	}
	for _, in := range bad {
		got, err := condo.NormalizeHost(in)
		var ne *condo.NameError
		if !errors.As(err, &ne) || ne.Kind != "host" || ne.Name != in {
			t.Errorf("NormalizeHost(%q) = %q, %v; want a host *NameError", in, got, err)
		}
	}
}

func TestNormalizeHostNoAlloc(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = condo.NormalizeHost("t0042.example.test:8080")
	})
	if allocs != 0 {
		t.Errorf("got %v allocations, want 0", allocs)
	}
}

// validHost is the contract of NormalizeHost's output, checked byte by
// byte independently of the implementation.
func validHost(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range []byte(l) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return strings.Trim(last, "0123456789") != ""
}

func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{
		"acme.example.com", "ACME.example.com.:8080", "bücher.example", "xn--bcher-kva.example",
		"[::1]:80", "127.0.0.1", "a..b", "例え.テスト", "xn--zz.example", "a.b.c.d.e.f",
		"ﬀ.example", "ß.de", "\u200d.example", "Ⅸ.example", "a\u0301.example",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := condo.NormalizeHost(in)
		if err != nil {
			var ne *condo.NameError
			if !errors.As(err, &ne) || ne.Kind != "host" {
				t.Fatalf("NormalizeHost(%q): error %v is not a host *NameError", in, err)
			}
			return
		}
		if !validHost(got) {
			t.Fatalf("NormalizeHost(%q) = %q, not a valid host name", in, got)
		}
		again, err := condo.NormalizeHost(got)
		if err != nil || again != got {
			t.Fatalf("NormalizeHost(%q) = %q, but NormalizeHost(%q) = %q, %v", in, got, got, again, err)
		}
	})
}

func BenchmarkNormalizeHost(b *testing.B) {
	for _, h := range []string{"t0042.example.test", "T0042.Example.Test:8080", "bücher.example"} {
		b.Run(h, func(b *testing.B) {
			for b.Loop() {
				_, _ = condo.NormalizeHost(h)
			}
		})
	}
}
