package seal

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, KeySize)
	b, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	s := b.Seal([]byte("secret"), []byte("row 1"))
	if bytes.Contains(s, []byte("secret")) {
		t.Fatal("sealed value holds the plaintext")
	}
	got, err := b.Open(s, []byte("row 1"))
	if err != nil || string(got) != "secret" {
		t.Fatalf("Open = %q, %v; want secret", got, err)
	}
	if _, err := b.Open(s, []byte("row 2")); !errors.Is(err, ErrOpen) {
		t.Errorf("other additional data: got %v, want ErrOpen", err)
	}
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	if _, err := other.Open(s, []byte("row 1")); !errors.Is(err, ErrOpen) {
		t.Errorf("other key: got %v, want ErrOpen", err)
	}
	if _, err := b.Open(s[:5], nil); !errors.Is(err, ErrOpen) {
		t.Errorf("short: got %v, want ErrOpen", err)
	}
	if _, err := New(key[:16]); err == nil {
		t.Error("New with a 16-byte key: got nil error")
	}
}
