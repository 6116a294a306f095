package main

import (
	"cmp"
	"os"
	"path/filepath"

	"github.com/condo-dev/condo/condofiles"
	"github.com/condo-dev/condo/condostack"
)

// setFiles turns on the file store (hotel photos): an S3 bucket when
// S3_BUCKET is set (S3_ENDPOINT for a server other than AWS's, S3_REGION,
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), else the directory
// FILES_DIR, else "files" in the state directory: dev works with no
// configuration, and every command (export, purge) finds the same files.
func setFiles(cfg *condostack.Config, getenv func(string) string, stateDir string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	// Photos are always served through the tenant's own host: the pages'
	// CSP allows images from 'self' only, and a bucket need not be
	// reachable by browsers.
	cfg.FilesConfig = &condofiles.Config{ServeThroughServer: true}
	if bucket := getenv("S3_BUCKET"); bucket != "" {
		endpoint := getenv("S3_ENDPOINT")
		cfg.Files = condofiles.NewS3(condofiles.NewS3Client(condofiles.S3ClientOpts{
			Endpoint: endpoint, Region: getenv("S3_REGION"), PathStyle: endpoint != "",
			AccessKey: getenv("AWS_ACCESS_KEY_ID"), SecretKey: getenv("AWS_SECRET_ACCESS_KEY"),
		}), bucket)
		return nil
	}
	local, err := condofiles.NewLocal(cmp.Or(getenv("FILES_DIR"), filepath.Join(cmp.Or(stateDir, defaultStateDir), "files")))
	if err != nil {
		return err
	}
	cfg.Files = local
	return nil
}
