package gitops

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"time"
)

// Option configures Checkout and the Repo it returns.
type Option func(*options) error

type options struct {
	logger *slog.Logger
	getenv func(string) string
	now    func() time.Time
}

// defaultOptions holds every default in one place.
func defaultOptions() options {
	return options{
		logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		getenv: os.Getenv,
		now:    time.Now,
	}
}

func makeOptions(opts []Option) (options, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// WithLogger sets the structured logger for progress messages (URLs are
// logged redacted). Default: a logger that discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("gitops.WithLogger: nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithGetenv sets how the env vars named in Spec (passwords, passphrases)
// are read, so tests and embedders need not touch the process environment.
// Default: os.Getenv.
func WithGetenv(f func(string) string) Option {
	return func(o *options) error {
		if f == nil {
			return errors.New("gitops.WithGetenv: nil function")
		}
		o.getenv = f
		return nil
	}
}

// WithClock sets the source of commit author/committer timestamps.
// Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return errors.New("gitops.WithClock: nil function")
		}
		o.now = now
		return nil
	}
}
