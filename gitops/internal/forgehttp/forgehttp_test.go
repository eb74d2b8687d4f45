package forgehttp

import (
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestResponseCap(t *testing.T) {
	for _, tt := range []struct {
		name    string
		size    int
		chunked bool // no Content-Length: the cap must hold while reading
		wantErr bool
	}{
		{"under", 100, false, false},
		{"exactly", 1024, true, false},
		{"over, declared", 1025, false, true},
		{"over, chunked", 5000, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !tt.chunked {
					w.Header().Set("Content-Length", strconv.Itoa(tt.size))
				}
				for range tt.size {
					w.Write([]byte("x"))
					if tt.chunked {
						w.(http.Flusher).Flush()
					}
				}
			}))
			defer srv.Close()
			s := DefaultSettings()
			s.MaxResponseBytes = 1024
			hc, err := s.HTTPClient()
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Get(srv.URL)
			if err == nil {
				var n int64
				n, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && n != int64(tt.size) {
					t.Fatalf("read %d bytes, want %d", n, tt.size)
				}
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestCABundle(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	s := DefaultSettings()
	hc, err := s.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	_, err = hc.Get(srv.URL)
	if err == nil {
		t.Fatal("untrusted certificate accepted")
	}
	if got := TransportReason(err, s.Timeout); !strings.Contains(got, "not trusted") {
		t.Errorf("TransportReason() = %q", got)
	}
	s.CABundle = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if hc, err = s.HTTPClient(); err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(srv.URL)
	if err != nil {
		t.Fatalf("with the CA bundle: %v", err)
	}
	resp.Body.Close()
	s.CABundle = []byte("not pem")
	if _, err := s.HTTPClient(); err == nil {
		t.Error("a CA bundle without certificates was accepted")
	}
}

func TestTransportReason(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, refused := http.Get("http://" + addr)
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"refused", refused, "cannot connect to " + addr + ": connection refused"},
		{"dns", &net.DNSError{Name: "forge.invalid", Err: "no such host"}, `cannot resolve host "forge.invalid"`},
		{"timeout", errors.New(`Get "http://x": net/http: request canceled (Client.Timeout exceeded while awaiting headers)`), "no answer within the 30s timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := TransportReason(tt.err, 30*time.Second); got != tt.want {
				t.Errorf("TransportReason() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestScrubberAndTrim(t *testing.T) {
	s := NewScrubber("tok/en+42")
	got := s.String("auth tok/en+42 failed, escaped tok%2Fen%2B42")
	if strings.Contains(got, "tok/en") || strings.Contains(got, "tok%2F") {
		t.Errorf("String() = %q still carries the token", got)
	}
	if got := NewScrubber("ab").String("ab cd"); got != "ab cd" {
		t.Errorf("a short token mangled the text: %q", got)
	}
	long := "<html>\n" + strings.Repeat("é", 400)
	if got := TrimMessage(long); len(got) > 304 || strings.Contains(got, "\n") || !strings.HasSuffix(got, "…") {
		t.Errorf("TrimMessage() = %q", got)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		mod  func(*Settings)
		ok   bool
	}{
		{"defaults", func(*Settings) {}, true},
		{"api url", func(s *Settings) { s.APIURL = "https://ghe.example/api/v3" }, true},
		{"api url with credentials", func(s *Settings) { s.APIURL = "https://u:p@ghe.example" }, false},
		{"api url not http", func(s *Settings) { s.APIURL = "ftp://ghe.example" }, false},
		{"token with newline", func(s *Settings) { s.Token = "abc\r\nX-Evil: 1" }, false},
		{"zero timeout", func(s *Settings) { s.Timeout = 0 }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := DefaultSettings()
			tt.mod(&s)
			if err := s.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
