package gitops

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Rewrite is what one run of a RewriteFunc changed in the work tree.
type Rewrite struct {
	// Files are the slash paths, relative to the work tree, to commit
	// (a missing file commits its deletion). None means nothing changed.
	Files []string
	// Message is the commit message, rendered once by the caller (e.g.
	// with RenderMessage).
	Message string
	// Changes are the image updates made, for a pull request's title,
	// body and marker; Publish does not need them.
	Changes []Change
}

// RewriteFunc applies the run's update to the work tree at dir, freshly
// checked out at the tip of the base branch, and says what to commit.
// Publish calls it once per attempt, each time on a newer tip, so it must
// start from the files as they are in dir, never from an earlier
// attempt's result.
type RewriteFunc func(ctx context.Context, dir string) (Rewrite, error)

// Publisher sends the commit at the tip of a Repo's local base branch
// where the config wants it: DirectPush pushes it to the push branch; a
// pull-request publisher pushes it to a branch of its own and opens or
// updates a pull request. An error wrapping ErrPushRejected means another
// writer won a race: Publish then refreshes the Repo, rewrites and calls
// Publish again. Any other error ends the run.
type Publisher interface {
	Publish(ctx context.Context, repo *Repo) (Published, error)
}

// Published says where a commit went.
type Published struct {
	// Branch is the remote branch that now holds the commit.
	Branch string
	// URL is the pull request's web address, when there is one.
	URL string
}

// DirectPush is the Publisher that pushes to the push branch
// (Spec.Push.Branch) with Repo.Push: a compare-and-swap against the tip
// the commit was built on, never a force-push.
type DirectPush struct{}

// Publish implements Publisher.
func (DirectPush) Publish(ctx context.Context, repo *Repo) (Published, error) {
	if err := repo.Push(ctx); err != nil {
		return Published{}, err
	}
	return Published{Branch: repo.PushBranch()}, nil
}

// Attempt is the outcome of one try of Publish.
type Attempt struct {
	// Number counts from 1.
	Number int
	// Base is the commit the attempt built on.
	Base string
	// Files and Message are what the RewriteFunc returned.
	Files   []string
	Message string
	// Commit is the SHA of the commit made, "" when nothing changed.
	Commit string
	// Pushed is true when the publisher delivered Commit; Published says where.
	Pushed    bool
	Published Published
	// Err is why the attempt failed; nil when it succeeded or had
	// nothing to commit.
	Err error
	// Duration is how long the attempt took; Wait how long Publish
	// waited after it before the next one (0 for the last).
	Duration, Wait time.Duration
	// Timings split Duration by step.
	Timings Timings
}

// Timings are the wall times of one attempt's steps.
type Timings struct {
	Refresh, Rewrite, Commit, Publish time.Duration
}

// GiveUpError is returned by Publish when no attempt got through: every
// push lost a race with another writer until push.attempts or
// push.timeout ran out. It is not bad input: a later run can succeed.
type GiveUpError struct {
	// Attempts made, of Max allowed.
	Attempts, Max int
	// Elapsed time, of the Timeout allowed.
	Elapsed, Timeout time.Duration
	// OutOfTime is true when the timeout, not the attempt count, ended it.
	OutOfTime bool
	// Err is the last attempt's error.
	Err error
}

// Error implements error.
func (e *GiveUpError) Error() string {
	limit := fmt.Sprintf("all %d attempts (push.attempts) lost a race with another writer", e.Max)
	if e.OutOfTime {
		limit = fmt.Sprintf("push.timeout of %s ran out after %d of %d attempts", e.Timeout, e.Attempts, e.Max)
	}
	return fmt.Sprintf("gave up publishing after %s: %s; last attempt: %v", e.Elapsed.Round(time.Millisecond), limit, e.Err)
}

// Unwrap returns the last attempt's error.
func (e *GiveUpError) Unwrap() error { return e.Err }

// Publish commits what rewrite changes and hands the commit to pub
// (DirectPush when nil). When the push loses a race with another writer
// it waits (exponential backoff with jitter), refreshes the work tree to
// the new tip, runs rewrite again, commits again and retries, up to
// Spec.Push.Attempts tries within Spec.Push.Timeout. It returns one
// Attempt per try. The error is nil when the last attempt pushed or found
// nothing to commit, a *GiveUpError when every attempt lost a race, and
// otherwise the first error that retrying cannot fix (from rewrite,
// Commit, a refresh, or the publisher), unchanged.
//
// Pass a ctx that a slow scan has not used up: Publish bounds itself.
func Publish(ctx context.Context, repo *Repo, rewrite RewriteFunc, pub Publisher) ([]Attempt, error) {
	if pub == nil {
		pub = DirectPush{}
	}
	return retry(ctx, repo, func(ctx context.Context, a *Attempt) error {
		return attempt(ctx, repo, rewrite, pub, a)
	})
}

// retry runs try until it succeeds, fails with anything but a lost race,
// or push.attempts or push.timeout run out, waiting with jittered
// exponential backoff between tries: Publish's loop, shared with the
// pull-request publisher. try fills the Attempt it is given (Number set).
func retry(ctx context.Context, repo *Repo, try func(context.Context, *Attempt) error) ([]Attempt, error) {
	max, timeout := repo.spec.Push.Attempts, repo.spec.Push.Timeout
	start := time.Now()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var attempts []Attempt
	for n := 1; ; n++ {
		a := Attempt{Number: n}
		t0 := time.Now()
		a.Err = try(ctx, &a)
		a.Duration = time.Since(t0)
		giveUp := func(outOfTime bool) ([]Attempt, error) {
			attempts = append(attempts, a)
			return attempts, &GiveUpError{Attempts: n, Max: max, Elapsed: time.Since(start), Timeout: timeout, OutOfTime: outOfTime, Err: a.Err}
		}
		switch {
		case a.Err == nil:
			return append(attempts, a), nil
		case parent.Err() != nil: // the caller's deadline or cancellation
			return append(attempts, a), a.Err
		case ctx.Err() != nil:
			return giveUp(true)
		case !errors.Is(a.Err, ErrPushRejected):
			return append(attempts, a), a.Err
		case n >= max:
			return giveUp(false)
		}
		a.Wait = backoff(repo.opts, n)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= a.Wait {
			a.Wait = 0
			return giveUp(true)
		}
		attempts = append(attempts, a)
		repo.opts.logger.Warn("push lost a race with another writer; retrying on the new tip",
			"attempt", n, "of", max, "wait", a.Wait.Round(time.Millisecond), "error", a.Err)
		if !sleep(ctx, a.Wait) {
			if parent.Err() != nil {
				return attempts, parent.Err()
			}
			return attempts, &GiveUpError{Attempts: n, Max: max, Elapsed: time.Since(start), Timeout: timeout, OutOfTime: true, Err: a.Err}
		}
	}
}

// attempt is one try: refresh (after the first), rewrite, commit, publish.
func attempt(ctx context.Context, repo *Repo, rewrite RewriteFunc, pub Publisher, a *Attempt) error {
	t := time.Now()
	lap := func(d *time.Duration) {
		now := time.Now()
		*d, t = now.Sub(t), now
	}
	if a.Number > 1 {
		err := repo.Refresh(ctx)
		lap(&a.Timings.Refresh)
		if err != nil {
			return err
		}
	}
	a.Base = repo.Head()
	rw, err := rewrite(ctx, repo.Dir())
	lap(&a.Timings.Rewrite)
	if err != nil {
		return err
	}
	a.Files, a.Message = rw.Files, rw.Message
	if len(rw.Files) == 0 {
		return nil
	}
	sha, err := repo.Commit(ctx, rw.Files, rw.Message)
	lap(&a.Timings.Commit)
	if errors.Is(err, ErrNothingToCommit) {
		return nil
	}
	if err != nil {
		return err
	}
	a.Commit = sha
	p, err := pub.Publish(ctx, repo)
	lap(&a.Timings.Publish)
	if err != nil {
		return err
	}
	a.Pushed, a.Published = true, p
	return nil
}

// backoff returns the wait after attempt n: d = base·2^(n-1) capped at
// max, jittered uniformly to [d/2, d].
func backoff(o options, n int) time.Duration {
	d := o.backoffBase
	for i := 1; i < n && d < o.backoffMax; i++ {
		d *= 2
	}
	d = min(d, o.backoffMax)
	half := d / 2
	return half + rand.N(d-half+1)
}

// sleep waits for d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
