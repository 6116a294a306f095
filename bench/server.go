package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// server is the server under test, a child process running "bench serve"
// (serve.go), so that its memory and CPU are its own.
type server struct {
	cmd    *exec.Cmd
	addr   string
	scheme string // http, or https for W7
	name   string
	pprof  string
	pooler int // pid of the PgBouncer in front of its database (W8), 0 if none
	runs   int
	done   chan struct{}
}

func startServer(ctx context.Context, o options, dbURL, mode, name string, extra ...string) (*server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(o.out, name+"-server.log"))
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "-db", o.dbURL(dbURL), "-mode", mode, "-addr", addr, "-db-conns", strconv.Itoa(o.dbConns)}
	args = append(args, extra...)
	s := &server{addr: addr, scheme: "http", done: make(chan struct{}), name: name}
	client := http.DefaultClient
	if slices.Contains(extra, "-tls-cert") {
		s.scheme = "https"
		// The harness's own self-signed certificate.
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	}
	if o.profile {
		pl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		s.pprof = pl.Addr().String()
		pl.Close()
		args = append(args, "-pprof", s.pprof)
	}
	cmd := exec.Command(self, append(args, o.extra...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s.cmd = cmd
	go func() { _ = cmd.Wait(); logFile.Close(); close(s.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(s.scheme + "://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("server %s exited; see %s", name, logFile.Name())
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("server did not become ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// peakRSS is the server's high-water resident set (VmHWM), in bytes.
func (s *server) peakRSS() int64 {
	return procStatus(s.cmd.Process.Pid, "VmHWM:")
}

// wildcardCert writes a self-signed ECDSA P-256 certificate for base and
// *.base (what condocert obtains over DNS-01 in production) to dir, and
// returns the certificate and key files.
func wildcardCert(dir, base string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "*." + base},
		DNSNames:     []string{"*." + base, base},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "w7-cert.pem"), filepath.Join(dir, "w7-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}
