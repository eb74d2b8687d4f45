package gitops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fastBackoff keeps retries quick in tests.
var fastBackoff = WithBackoff(time.Millisecond, 10*time.Millisecond)

func TestPublishRetriesOnTheNewTip(t *testing.T) {
	for _, transport := range []string{"file", "http"} {
		t.Run(transport, func(t *testing.T) {
			rr := newRaceRemote(t, transport)
			ctx := context.Background()
			repo, err := Checkout(ctx, rr.spec, t.TempDir(), fastBackoff)
			if err != nil {
				t.Fatal(err)
			}
			var theirs string
			var sawTheirs []bool
			rewrite := func(ctx context.Context, dir string) (Rewrite, error) {
				_, err := os.Stat(filepath.Join(dir, "theirs.txt"))
				sawTheirs = append(sawTheirs, err == nil)
				if theirs == "" { // someone else pushes while the first attempt runs
					theirs = pushFromElsewhere(t, rr.bare, "main", map[string]string{"theirs.txt": "x\n"}, "theirs")
				}
				return ownFileRewrite(0, 1)(ctx, dir)
			}
			attempts, err := Publish(ctx, repo, rewrite, nil)
			if err != nil {
				t.Fatalf("Publish() = %v", err)
			}
			if diff := cmp.Diff([]bool{false, true}, sawTheirs); diff != "" {
				t.Errorf("rewrite saw the other commit (-want +got):\n%s", diff)
			}
			if len(attempts) != 2 {
				t.Fatalf("%d attempts, want 2: %+v", len(attempts), attempts)
			}
			first, second := attempts[0], attempts[1]
			if !errors.Is(first.Err, ErrPushRejected) || first.Pushed || first.Commit == "" || first.Wait <= 0 {
				t.Errorf("first attempt = %+v, want a commit rejected as a lost race, then a wait", first)
			}
			if second.Err != nil || !second.Pushed || second.Base != theirs || second.Published.Branch != "main" {
				t.Errorf("second attempt = %+v, want pushed on top of %s", second, theirs)
			}
			if got := revParse(t, rr.bare, "main"); got != second.Commit {
				t.Errorf("remote main = %s, want %s", got, second.Commit)
			}
			if got := revParse(t, rr.bare, "main^"); got != theirs {
				t.Errorf("remote main^ = %s, want the other writer's %s", got, theirs)
			}
		})
	}
}

func TestPublishOutcomes(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name       string
		rewrite    func(t *testing.T) RewriteFunc
		wantErr    error
		wantCommit bool
	}{
		{"nothing changed", func(t *testing.T) RewriteFunc {
			return func(context.Context, string) (Rewrite, error) { return Rewrite{}, nil }
		}, nil, false},
		{"files rewritten with the same bytes", func(t *testing.T) RewriteFunc {
			return func(_ context.Context, dir string) (Rewrite, error) {
				writeFiles(t, dir, map[string]string{"README.md": "fleet\n"})
				return Rewrite{Files: []string{"README.md"}, Message: "same\n"}, nil
			}
		}, nil, false},
		{"rewrite fails", func(t *testing.T) RewriteFunc {
			return func(context.Context, string) (Rewrite, error) { return Rewrite{}, boom }
		}, boom, false},
		{"empty message", func(t *testing.T) RewriteFunc {
			return func(ctx context.Context, dir string) (Rewrite, error) {
				rw, err := ownFileRewrite(0, 0)(ctx, dir)
				rw.Message = " \n"
				return rw, err
			}
		}, ErrEmptyMessage, false},
		{"a change", func(t *testing.T) RewriteFunc { return ownFileRewrite(0, 0) }, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFleet(t)
			before := revParse(t, f.bare, "main")
			repo, err := Checkout(context.Background(), Spec{URL: f.bare}, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			attempts, err := Publish(context.Background(), repo, tt.rewrite(t), DirectPush{})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Publish() = %v, want %v", err, tt.wantErr)
			}
			if len(attempts) != 1 || attempts[0].Number != 1 || !errors.Is(attempts[0].Err, tt.wantErr) {
				t.Fatalf("attempts = %+v, want one carrying the error", attempts)
			}
			a := attempts[0]
			if (a.Commit != "") != tt.wantCommit || a.Pushed != tt.wantCommit {
				t.Errorf("attempt = %+v, want commit and push %v", a, tt.wantCommit)
			}
			if moved := revParse(t, f.bare, "main") != before; moved != tt.wantCommit {
				t.Errorf("remote moved = %v, want %v", moved, tt.wantCommit)
			}
		})
	}
}

// TestPublishKeepsTheServersReason: a pre-receive hook refusing the push
// over git http-backend is not a race: Publish stops at once, and the
// error carries the hook's own message.
func TestPublishKeepsTheServersReason(t *testing.T) {
	rr := newRaceRemote(t, "http")
	hook := filepath.Join(rr.bare, "hooks", "pre-receive")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho 'policy: pushes to main need a ticket' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	repo, err := Checkout(context.Background(), rr.spec, t.TempDir(), fastBackoff)
	if err != nil {
		t.Fatal(err)
	}
	attempts, err := Publish(context.Background(), repo, ownFileRewrite(0, 0), nil)
	t.Logf("error: %v", err)
	var pe *PushError
	if !errors.As(err, &pe) || errors.Is(err, ErrPushRejected) || len(attempts) != 1 {
		t.Fatalf("Publish() = %v after %d attempts, want one *PushError that is not a lost race", err, len(attempts))
	}
	for _, want := range []string{"pre-receive hook declined", "policy: pushes to main need a ticket"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not keep the server's %q", err, want)
		}
	}
}

// TestPublishCreatesEnvBranchOnce: two runs both see env/prod missing and
// both try to create it from main. The loser must not fail or overwrite:
// it retries on env/prod as the winner created it.
func TestPublishCreatesEnvBranchOnce(t *testing.T) {
	for _, transport := range []string{"file", "http"} {
		t.Run(transport, func(t *testing.T) {
			rr := newRaceRemote(t, transport)
			spec := rr.spec
			spec.Push.Branch = "env/prod"
			ctx := context.Background()
			mainTip := revParse(t, rr.bare, "main")
			a, err := Checkout(ctx, spec, t.TempDir(), fastBackoff)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Checkout(ctx, spec, t.TempDir(), fastBackoff)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Publish(ctx, a, ownFileRewrite(0, 0), nil); err != nil {
				t.Fatal(err)
			}
			attempts, err := Publish(ctx, b, ownFileRewrite(1, 0), nil)
			if err != nil {
				t.Fatalf("second creator: Publish() = %v", err)
			}
			if len(attempts) != 2 || !errors.Is(attempts[0].Err, ErrPushRejected) || b.BaseBranch() != "env/prod" {
				t.Errorf("second creator: %d attempts (first error %v), base %s; want a lost race, then a retry on env/prod", len(attempts), attempts[0].Err, b.BaseBranch())
			}
			log := gitRun(t, rr.bare, nil, "log", "--format=%s", mainTip+"..env/prod")
			if log != "racer 1 round 0\nracer 0 round 0\n" {
				t.Errorf("env/prod since main:\n%s", log)
			}
			if got := revParse(t, rr.bare, "main"); got != mainTip {
				t.Errorf("main moved to %s", got)
			}
		})
	}
}

// branchPublisher is a Publisher of the kind a pull-request flow is: it
// owns its branch and force-pushes it with a lease (compare-and-swap
// against the tip it last saw), never touching the base branch.
type branchPublisher struct{ branch string }

func (p branchPublisher) Publish(ctx context.Context, repo *Repo) (Published, error) {
	sha, _, err := repo.RemoteBranch(ctx, p.branch)
	if err != nil {
		return Published{}, err
	}
	if err := repo.PushTo(ctx, p.branch, sha); err != nil {
		return Published{}, err
	}
	return Published{Branch: p.branch, URL: "pr://" + p.branch}, nil
}

func TestPublishThroughAnotherPublisher(t *testing.T) {
	rr := newRaceRemote(t, "http")
	ctx := context.Background()
	mainTip := revParse(t, rr.bare, "main")
	pub := branchPublisher{branch: "uptick/images"}
	var shas []string
	for round := range 2 { // the second round rebuilds the branch on main: a force-push
		repo, err := Checkout(ctx, rr.spec, t.TempDir(), fastBackoff)
		if err != nil {
			t.Fatal(err)
		}
		attempts, err := Publish(ctx, repo, ownFileRewrite(0, round), pub)
		if err != nil {
			t.Fatalf("round %d: Publish() = %v", round, err)
		}
		last := attempts[len(attempts)-1]
		if diff := cmp.Diff(Published{Branch: "uptick/images", URL: "pr://uptick/images"}, last.Published); diff != "" || !last.Pushed {
			t.Errorf("round %d: published (-want +got):\n%s", round, diff)
		}
		shas = append(shas, last.Commit)
	}
	if got := revParse(t, rr.bare, "uptick/images"); got != shas[1] {
		t.Errorf("uptick/images = %s, want %s", got, shas[1])
	}
	if got := revParse(t, rr.bare, "uptick/images^"); got != mainTip {
		t.Errorf("uptick/images^ = %s, want main %s (rebuilt on the base, not stacked)", got, mainTip)
	}
	if got := revParse(t, rr.bare, "main"); got != mainTip {
		t.Errorf("main moved to %s", got)
	}

	// A lease on a tip that moved is refused as a lost race.
	repo, err := Checkout(ctx, rr.spec, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Commit(ctx, mustRewrite(t, repo, 0, 9), "stale lease\n"); err != nil {
		t.Fatal(err)
	}
	if err := repo.PushTo(ctx, "uptick/images", shas[0]); !errors.Is(err, ErrPushRejected) {
		t.Errorf("PushTo() with a stale lease = %v, want ErrPushRejected", err)
	}
	if err := repo.PushTo(ctx, "uptick/images", ""); !errors.Is(err, ErrPushRejected) {
		t.Errorf("PushTo() creating an existing branch it does not fast-forward = %v, want ErrPushRejected", err)
	}
	if got := revParse(t, rr.bare, "uptick/images"); got != shas[1] {
		t.Errorf("uptick/images = %s after refused pushes, want %s", got, shas[1])
	}
}

// mustRewrite applies ownFileRewrite to repo's work tree.
func mustRewrite(t *testing.T, repo *Repo, racer, round int) []string {
	t.Helper()
	rw, err := ownFileRewrite(racer, round)(context.Background(), repo.Dir())
	if err != nil {
		t.Fatal(err)
	}
	return rw.Files
}

func TestPublishTimeout(t *testing.T) {
	rr := newRaceRemote(t, "file")
	spec := rr.spec
	spec.Push.Timeout = 300 * time.Millisecond
	repo, err := Checkout(context.Background(), spec, t.TempDir(), WithBackoff(time.Second, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	rewrite := func(ctx context.Context, dir string) (Rewrite, error) {
		n++
		pushFromElsewhere(t, rr.bare, "main", map[string]string{fmt.Sprintf("other/%d", n): "x\n"}, "other")
		return ownFileRewrite(0, n)(ctx, dir)
	}
	attempts, err := Publish(context.Background(), repo, rewrite, nil)
	var gu *GiveUpError
	if !errors.As(err, &gu) || !gu.OutOfTime || !strings.Contains(err.Error(), "push.timeout of 300ms ran out") {
		t.Fatalf("Publish() = %v, want a *GiveUpError for the timeout", err)
	}
	if len(attempts) != 1 || attempts[0].Wait != 0 {
		t.Errorf("attempts = %+v, want one, without a wait past the deadline", attempts)
	}
}

func TestBackoff(t *testing.T) {
	o := defaultOptions()
	for n := 1; n <= 10; n++ {
		d := min(DefaultBackoffBase<<(n-1), DefaultBackoffMax)
		for range 100 {
			if w := backoff(o, n); w < d/2 || w > d {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", n, w, d/2, d)
			}
		}
	}
}
