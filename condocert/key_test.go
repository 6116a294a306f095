package condocert_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/condo-dev/condo/condocert"
)

func TestLoadKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b64 := condocert.NewKey()
	want, err := condocert.ParseKey(b64)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"b64": []byte(b64 + "\n"),
		"hex": []byte(hex.EncodeToString(want)),
		"raw": want,
		"bad": []byte("s3cr3t-but-too-short"),
	}
	for n, b := range files {
		_ = os.WriteFile(filepath.Join(dir, n), b, 0o600)
	}
	env := func(k string) string {
		if k == condocert.KeyEnv {
			return b64
		}
		return ""
	}
	for name, tc := range map[string]struct {
		file   string
		getenv func(string) string
		err    bool
	}{
		"file base64": {file: "b64"},
		"file hex":    {file: "hex"},
		"file raw":    {file: "raw"},
		"env":         {getenv: env},
		"file wins":   {file: "b64", getenv: func(string) string { return "ignored" }},
		"bad file":    {file: "bad", err: true},
	} {
		file := ""
		if tc.file != "" {
			file = filepath.Join(dir, tc.file)
		}
		got, err := condocert.LoadKey(file, tc.getenv)
		if tc.err {
			if err == nil || strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("%s: got %v; want an error without the key", name, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: got %x, %v", name, got, err)
		}
	}
	if _, err := condocert.LoadKey("", func(string) string { return "" }); !errors.Is(err, condocert.ErrNoKey) {
		t.Errorf("no key: got %v, want ErrNoKey", err)
	}
}

func TestNewConfigErrors(t *testing.T) {
	t.Parallel()
	_, err := condocert.New(nil, &condocert.Config{BaseDomains: []string{"*.bad", "example.com"}, OnDemand: &condocert.OnDemandConfig{}})
	if err == nil {
		t.Fatal("New accepted a bad config")
	}
	// Every problem is reported at once.
	for _, want := range []string{"email", "DNS provider", `"*.bad"`, "AllowFunc", "encryption key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}
