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
	// backoffBase and backoffMax shape the wait between Publish attempts.
	backoffBase, backoffMax time.Duration
	// prClaim and prPoll: how long another run's fresh pull request
	// branch tip is left to it, and how often its pull request is looked
	// for meanwhile.
	prClaim, prPoll time.Duration
}

// Default backoff between Publish attempts: the n-th wait is drawn from
// [d/2, d] with d = base·2^(n-1), capped at max, so racers that collided
// spread out instead of colliding again in lockstep.
const (
	DefaultBackoffBase = 200 * time.Millisecond
	DefaultBackoffMax  = 10 * time.Second
)

// defaultOptions holds every default in one place.
func defaultOptions() options {
	return options{
		logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		getenv: os.Getenv,
		now:    time.Now,

		backoffBase: DefaultBackoffBase,
		backoffMax:  DefaultBackoffMax,

		prClaim: DefaultPullRequestClaim,
		prPoll:  DefaultPullRequestPoll,
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

// WithBackoff sets the wait before the second attempt of Publish (base)
// and the longest wait (max); each wait doubles and is jittered to
// [d/2, d]. Default: DefaultBackoffBase, DefaultBackoffMax.
func WithBackoff(base, max time.Duration) Option {
	return func(o *options) error {
		if base <= 0 || max < base {
			return errors.New("gitops.WithBackoff: want 0 < base <= max")
		}
		o.backoffBase, o.backoffMax = base, max
		return nil
	}
}

// WithPullRequestClaim sets how long a pull request branch tip that
// another run pushed stays that run's to open the pull request for
// (claim), and how often a run that found such a tip looks for that pull
// request meanwhile (poll). Default: DefaultPullRequestClaim,
// DefaultPullRequestPoll.
func WithPullRequestClaim(claim, poll time.Duration) Option {
	return func(o *options) error {
		if claim < 0 || poll <= 0 {
			return errors.New("gitops.WithPullRequestClaim: want claim >= 0 and poll > 0")
		}
		o.prClaim, o.prPoll = claim, poll
		return nil
	}
}
