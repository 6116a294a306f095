package main

import (
	"path/filepath"
	"testing"

	"github.com/condo-dev/condo/condofiles"
	"github.com/condo-dev/condo/condostack"
)

// TestSetFiles: dev keeps files in its state directory with no
// configuration; FILES_DIR and S3_BUCKET choose otherwise.
func TestSetFiles(t *testing.T) {
	t.Parallel()
	state, other := t.TempDir(), t.TempDir()
	for name, c := range map[string]struct {
		env     map[string]string
		wantDir string // "" for S3
	}{
		"state dir": {nil, filepath.Join(state, "files")},
		"FILES_DIR": {map[string]string{"FILES_DIR": other}, other},
		"S3":        {map[string]string{"S3_BUCKET": "photos", "S3_ENDPOINT": "http://127.0.0.1:9"}, ""},
	} {
		var cfg condostack.Config
		if err := setFiles(&cfg, func(k string) string { return c.env[k] }, state); err != nil {
			t.Fatal(err)
		}
		switch b := cfg.Files.(type) {
		case *condofiles.Local:
			if b.Dir() != c.wantDir {
				t.Errorf("%s: files in %s, want %s", name, b.Dir(), c.wantDir)
			}
		case *condofiles.S3:
			if c.wantDir != "" {
				t.Errorf("%s: got S3, want %s", name, c.wantDir)
			}
		default:
			t.Errorf("%s: backend %T", name, b)
		}
		if cfg.FilesConfig == nil || !cfg.FilesConfig.ServeThroughServer {
			t.Errorf("%s: photos must be served through the tenant's host (the CSP allows 'self' images only)", name)
		}
	}
}
