package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The basic auth user of the web config below. The hash is bcrypt, cost
// 10, of testPassword, made once with golang.org/x/crypto/bcrypt's
// GenerateFromPassword (htpasswd -nbBC 10 USER PASSWORD makes the same
// kind); the test's 200 proves that it matches.
const (
	testUser     = "prometheus"
	testPassword = "synack-test-password"
	testHash     = "$2a$10$js0WCucJ9piQc5VqB23pIO1JkHLEOzlEJh7vy45elX8TimI/n3an."
)

// TestWebConfigTLSAndBasicAuth runs the binary with --web.config.file
// holding a certificate made here and a bcrypt basic auth user: without
// credentials the answer is 401, with the right ones over TLS it is 200,
// and plain HTTP gets no metrics.
func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	pool := writeCertificate(t, dir)
	webConfig := filepath.Join(dir, "web-config.yml")
	writeConfig(t, webConfig, fmt.Sprintf(`tls_server_config:
  cert_file: %s
  key_file: %s
basic_auth_users:
  %s: %s
`, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), testUser, testHash))

	p := startExporter(t, dir, "--web.listen-address=127.0.0.1:0", "--web.config.file="+webConfig)
	addr := p.waitLog(t, listeningRE)
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()

	for _, tc := range []struct {
		name           string
		path           string
		user, password string
		status         int
		want           string // in the body
	}{
		{"no credentials", "/metrics", "", "", 401, "Unauthorized"},
		{"wrong password", "/metrics", testUser, "wrong", 401, "Unauthorized"},
		{"unknown user", "/metrics", "nobody", testPassword, 401, "Unauthorized"},
		{"health needs credentials too", "/-/healthy", "", "", 401, "Unauthorized"},
		{"probe without credentials", "/probe?target=" + target.Addr().String(), "", "", 401, "Unauthorized"},
		{"metrics", "/metrics", testUser, testPassword, 200, "synack_exporter_build_info"},
		{"probe", "/probe?target=" + target.Addr().String(), testUser, testPassword, 200, "probe_success 1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, "https://"+addr+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.password)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
				t.Errorf("%d %q, want %d containing %q", resp.StatusCode, body, tc.status, tc.want)
			}
			if resp.TLS == nil {
				t.Error("answer did not come over TLS")
			}
		})
	}

	// Plain HTTP to the TLS port: Go's TLS server answers 400, nothing more.
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	req.SetBasicAuth(testUser, testPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || strings.Contains(string(body), "synack_exporter") {
		t.Errorf("plain HTTP to the TLS port: %d %q, want 400 without metrics", resp.StatusCode, body)
	}
}

// writeCertificate writes a self-signed ECDSA certificate for 127.0.0.1
// and ::1 to dir/cert.pem and dir/key.pem, and returns a pool that
// trusts it.
func writeCertificate(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "synack_exporter test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "cert.pem"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(dir, "key.pem"), "PRIVATE KEY", keyDER)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
