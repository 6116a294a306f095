package condotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// VersityGWModule is the S3 server [NewS3] runs: Versity's S3 gateway, a
// real S3 implementation (SigV4 and presigned-URL checks, multi-object
// delete, listing) over a plain directory, one Go binary built from the
// module proxy, Apache-2.0. MinIO's server is AGPL and no longer
// published as binaries; in-process fakes such as gofakes3 accept what
// S3 refuses (their signature checks are loose), which would make the
// presigned-URL tests prove little.
const VersityGWModule = "github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// S3 is a running S3-compatible server for one test, with one bucket.
type S3 struct {
	Endpoint             string // http://127.0.0.1:port
	Region               string
	AccessKey, SecretKey string
	Bucket               string
}

var versityOnce struct {
	sync.Once
	path string
	err  error
}

// VersityGW returns the path of the versitygw binary: $CONDO_VERSITYGW,
// or one built once into the user's cache directory
// (condo/versitygw-v1.8.0/versitygw) with `go install` (.ci/run builds it
// there before the tests).
func VersityGW() (string, error) {
	versityOnce.Do(func() {
		if p := os.Getenv("CONDO_VERSITYGW"); p != "" {
			versityOnce.path = p
			return
		}
		cache, err := os.UserCacheDir()
		if err != nil {
			versityOnce.err = err
			return
		}
		dir := filepath.Join(cache, "condo", "versitygw-v1.8.0")
		bin := filepath.Join(dir, "versitygw")
		if _, err := os.Stat(bin); err == nil {
			versityOnce.path = bin
			return
		}
		// Test processes build at once: each into its own directory,
		// then an atomic rename.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			versityOnce.err = err
			return
		}
		tmp, err := os.MkdirTemp(dir, "build-")
		if err != nil {
			versityOnce.err = err
			return
		}
		defer os.RemoveAll(tmp)
		cmd := osexec.Command("go", "install", VersityGWModule)
		cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			versityOnce.err = fmt.Errorf("go install %s: %w: %s", VersityGWModule, err, out)
			return
		}
		if err := os.Rename(filepath.Join(tmp, "versitygw"), bin); err != nil {
			versityOnce.err = err
			return
		}
		versityOnce.path = bin
	})
	return versityOnce.path, versityOnce.err
}

// NewS3 starts versitygw's posix backend over a temporary directory on
// a loopback port, with random root keys and an empty bucket "condo";
// it is stopped when the test ends (and killed with the test process).
func NewS3(t testing.TB) *S3 {
	t.Helper()
	bin, err := VersityGW()
	if err != nil {
		t.Fatalf("condotest: versitygw: %v", err)
	}
	root := t.TempDir()
	data, meta := filepath.Join(root, "data"), filepath.Join(root, "meta")
	for _, d := range []string{filepath.Join(data, "condo"), meta} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatalf("condotest: %v", err)
		}
	}
	s := &S3{Region: "us-east-1", AccessKey: "condo" + randomHex(t, 4), SecretKey: randomHex(t, 16), Bucket: "condo"}
	// A free port, then the server on it: another process may take the
	// port in between, so a server that exits is retried.
	for attempt := 0; ; attempt++ {
		port := freePort(t)
		s.Endpoint = "http://127.0.0.1:" + strconv.Itoa(port)
		var out bytes.Buffer
		cmd := osexec.Command(bin, "--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.Region,
			"--port", "127.0.0.1:"+strconv.Itoa(port), "posix", "--sidecar", meta, data)
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatalf("condotest: start versitygw: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() { _ = cmd.Process.Kill(); <-exited }
		if waitHTTP(s.Endpoint, exited) {
			t.Cleanup(stop)
			return s
		}
		stop()
		if attempt == 2 {
			t.Fatalf("condotest: versitygw did not start: %s", out.String())
		}
	}
}

// waitHTTP waits for an HTTP answer from endpoint, or for the process
// to exit (false).
func waitHTTP(endpoint string, exited <-chan struct{}) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			return true
		}
		select {
		case <-exited:
			return false
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("condotest: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("condotest: %v", err)
	}
	return hex.EncodeToString(b)
}
