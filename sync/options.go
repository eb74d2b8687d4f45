package sync

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Option configures a Syncer.
type Option func(*options) error

type options struct {
	inventoryNamespace, inventoryName string
	prune                             bool
	wait                              time.Duration
	dryRun                            bool
	force                             bool
	diff                              bool
	concurrency                       int
	revision                          string
	establishTimeout                  time.Duration
	log                               *slog.Logger
	now                               func() time.Time
}

// Defaults of the options.
const (
	// DefaultConcurrency bounds the requests a sync has in flight.
	DefaultConcurrency = 8
	// DefaultEstablishTimeout bounds the wait for CustomResourceDefinitions
	// and Namespaces applied in the first stage.
	DefaultEstablishTimeout = time.Minute
)

func defaults() options {
	ns, name, _ := ParseNamespacedName(DefaultInventory)
	return options{
		inventoryNamespace: ns, inventoryName: name,
		prune:            true,
		concurrency:      DefaultConcurrency,
		establishTimeout: DefaultEstablishTimeout,
		log:              slog.New(slog.DiscardHandler),
		now:              time.Now,
	}
}

// WithInventory names the inventory ConfigMap, "NAMESPACE/NAME"; default
// DefaultInventory ("default/uptick-inventory").
func WithInventory(ref string) Option {
	return func(o *options) error {
		ns, name, err := ParseNamespacedName(ref)
		if err != nil {
			return &TargetError{fmt.Errorf("inventory: %w", err)}
		}
		o.inventoryNamespace, o.inventoryName = ns, name
		return nil
	}
}

// WithPrune deletes objects that left git when true (the default); false
// reports them as skipped and keeps them in the inventory.
func WithPrune(prune bool) Option {
	return func(o *options) error { o.prune = prune; return nil }
}

// WithWait waits up to d for the applied objects to be ready by kstatus
// rules; default 0, no wait.
func WithWait(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return &TargetError{errors.New("wait must not be negative")}
		}
		o.wait = d
		return nil
	}
}

// WithDryRun changes nothing: every write is sent with dryRun=All, and
// each object that would change gets a diff. Default false.
func WithDryRun(dryRun bool) Option {
	return func(o *options) error { o.dryRun = dryRun; return nil }
}

// WithForce deletes and recreates an object whose change touches an
// immutable field, instead of failing it. Default false.
func WithForce(force bool) Option {
	return func(o *options) error { o.force = force; return nil }
}

// WithDiff computes a diff for every object a real (not dry) run changes;
// dry runs always do. Default false.
func WithDiff(diff bool) Option {
	return func(o *options) error { o.diff = diff; return nil }
}

// WithConcurrency bounds the requests in flight; default
// DefaultConcurrency (8).
func WithConcurrency(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return errors.New("concurrency must be at least 1")
		}
		o.concurrency = n
		return nil
	}
}

// WithRevision records the git revision synced in the inventory; default
// none.
func WithRevision(rev string) Option {
	return func(o *options) error { o.revision = rev; return nil }
}

// WithEstablishTimeout bounds the wait for CRDs and Namespaces of the
// first stage to be established; default DefaultEstablishTimeout (1m).
func WithEstablishTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return errors.New("establish timeout must be positive")
		}
		o.establishTimeout = d
		return nil
	}
}

// WithLogger receives progress; default discards.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l != nil {
			o.log = l
		}
		return nil
	}
}
