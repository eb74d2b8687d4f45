package scan_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/uptick-gitops/uptick/internal/testserver"
	"github.com/uptick-gitops/uptick/scan"
)

// TestProviderGoogle runs the google provider end to end, offline: the
// real library reads a service-account key from
// GOOGLE_APPLICATION_CREDENTIALS and trades a signed JWT for an access
// token at the key's token_uri, here an OAuth2 token endpoint of the
// test's on 127.0.0.1; the registry gets "_token" and that token.
func TestProviderGoogle(t *testing.T) {
	const accessToken = "ya29.c.uptick-test-Access-T0ken-0123456789"
	var exchanges atomic.Int64
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || strings.Count(r.Form.Get("assertion"), ".") != 2 {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		exchanges.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": accessToken, "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(tokenSrv.Close)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	sa, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "uptick-test", "private_key_id": "k1", "private_key": string(keyPEM),
		"client_email": "uptick@uptick-test.iam.gserviceaccount.com", "client_id": "1", "token_uri": tokenSrv.URL + "/token",
	})
	saFile := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(saFile, sa, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", saFile)
	t.Setenv("GCE_METADATA_HOST", testserver.FreeAddr(t)) // never the real metadata server

	reg := newTestRegistry(t, basicAuth("_token", accessToken))
	pushTags(t, reg.host, "app", []string{"v1"}, basicAuthOption("_token", accessToken))
	res := reg.scanner(t).Scan(context.Background(), []scan.Target{{Name: "app", Repository: reg.host + "/app", Auth: scan.Auth{Provider: "google"}}})[0]
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if diff := cmp.Diff([]string{"v1"}, res.Tags); diff != "" || !strings.HasPrefix(res.Source, "google (") || exchanges.Load() != 1 {
		t.Errorf("tags %v, source %q, token exchanges %d", res.Tags, res.Source, exchanges.Load())
	}

	t.Run("no credentials", func(t *testing.T) {
		t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(t.TempDir(), "missing.json"))
		t.Setenv("PATH", t.TempDir()) // no gcloud
		res := reg.scanner(t).Scan(context.Background(), []scan.Target{{Repository: reg.host + "/app", Auth: scan.Auth{Provider: "google"}}})[0]
		if !errors.Is(res.Err, scan.ErrCredentialSource) || !strings.Contains(res.Err.Error(), "no Google credentials: application default credentials:") || !strings.Contains(res.Err.Error(), "gcloud is not on PATH") {
			t.Errorf("err = %v", res.Err)
		}
	})
}

// TestProviderFailuresOffline: the aws and azure providers reach their
// libraries and say why they found nothing, without any request leaving
// 127.0.0.1: AWS with static keys and its ECR endpoint on a closed
// loopback port, the instance metadata service disabled; Azure with a
// registry that is not ACR.
func TestProviderFailuresOffline(t *testing.T) {
	home := t.TempDir()
	for k, v := range map[string]string{
		"HOME": home, "AWS_CONFIG_FILE": filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "none"),
		"AWS_ACCESS_KEY_ID": "AKIAUPTICKTEST000000", "AWS_SECRET_ACCESS_KEY": "uptick/test/Secret0000000000000000000000",
		"AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", "AWS_ECR_DISABLE_CACHE": "true",
		"AWS_ENDPOINT_URL_ECR": "http://" + testserver.FreeAddr(t), "AWS_MAX_ATTEMPTS": "1",
	} {
		t.Setenv(k, v)
	}
	s := newScanner(t)
	tests := []struct {
		name, repo, provider string
		want                 []string
	}{
		{"aws", "123456789012.dkr.ecr.us-east-1.amazonaws.com/app", "aws", []string{"aws (amazon-ecr-credential-helper", "no ECR credentials for 123456789012.dkr.ecr.us-east-1.amazonaws.com", "connection refused"}},
		{"aws, not an ECR registry", "registry.example/app", "aws", []string{"no ECR credentials for registry.example"}},
		{"azure, not an ACR registry", "registry.example/app", "azure", []string{"azure (docker-credential-acr-env", "serverURL does not refer to Azure Container Registry"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := s.Scan(context.Background(), []scan.Target{{Repository: tc.repo, Auth: scan.Auth{Provider: tc.provider}}})[0]
			if !errors.Is(res.Err, scan.ErrCredentialSource) {
				t.Fatalf("err = %v, want a credential source error", res.Err)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.Err.Error(), w) {
					t.Errorf("error %q lacks %q", res.Err, w)
				}
			}
			if strings.Contains(res.Err.Error(), "uptick/test/Secret") {
				t.Errorf("error leaks the AWS secret key: %v", res.Err)
			}
			if res.Requests != 0 {
				t.Errorf("%d registry requests, want none", res.Requests)
			}
		})
	}
}
