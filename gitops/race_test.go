package gitops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/uptick-gitops/uptick/internal/testserver"
)

// raceRemote is one bare repository reachable over one transport.
type raceRemote struct {
	bare string
	spec Spec
}

// newRaceRemote serves a fresh fleet repository over transport ("file",
// "http" or "ssh") with the real servers.
func newRaceRemote(t *testing.T, transport string) raceRemote {
	t.Helper()
	root := t.TempDir()
	bare := newBareRepo(t, root, "fleet", fixtureFiles())
	switch transport {
	case "file":
		return raceRemote{bare, Spec{URL: "file://" + bare}}
	case "http":
		return raceRemote{bare, Spec{URL: serveGit(t, root, "", "").URL + "/fleet.git"}}
	case "ssh":
		pub, pem := newSSHKey(t, "")
		srv := testserver.SSHD(t, testserver.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{pub}})
		d := t.TempDir()
		key, hosts := filepath.Join(d, "id"), filepath.Join(d, "known_hosts")
		writeFiles(t, d, map[string]string{"id": string(pem), "known_hosts": srv.KnownHostsLine + "\n"})
		if err := os.Chmod(key, 0o600); err != nil {
			t.Fatal(err)
		}
		return raceRemote{bare, Spec{URL: srv.URL(bare), Auth: Auth{SSHKeyFile: key, KnownHostsFile: hosts}}}
	}
	t.Fatalf("unknown transport %q", transport)
	return raceRemote{}
}

// ownFileRewrite is the update of one racer: its own file, set to round.
func ownFileRewrite(racer, round int) RewriteFunc {
	return func(ctx context.Context, dir string) (Rewrite, error) {
		f := fmt.Sprintf("racers/r%d.txt", racer)
		if err := os.MkdirAll(filepath.Join(dir, "racers"), 0o755); err != nil {
			return Rewrite{}, err
		}
		if err := os.WriteFile(filepath.Join(dir, f), fmt.Appendf(nil, "round %d\n", round), 0o644); err != nil {
			return Rewrite{}, err
		}
		return Rewrite{Files: []string{f}, Message: fmt.Sprintf("racer %d round %d\n", racer, round)}, nil
	}
}

// raceFigures counts what happened to the runs of a race.
type raceFigures struct {
	runs, succeeded, failed, lost, attempts int
}

// TestPushRace runs 4 pushers at once, each with its own work directory,
// for 3 rounds (all 4 start a round together, as a schedule starts them),
// each run a Checkout and a Publish of the pusher's own file, over file://,
// git http-backend and OpenSSH sshd. Every run must succeed, every change
// must land exactly once, and the history must stay linear: no update is
// lost to a silent overwrite, and no lost race fails a run.
//
// internal/e2e's TestPushRaces proves the same with real processes over 10
// rounds; this in-process version keeps 3 so `make test` stays quick.
func TestPushRace(t *testing.T) {
	const racers, rounds = 4, 3
	for _, transport := range []string{"file", "http", "ssh"} {
		t.Run(transport, func(t *testing.T) {
			rr := newRaceRemote(t, transport)
			base := revParse(t, rr.bare, "main")
			workdirs := make([]string, racers)
			for i := range workdirs {
				workdirs[i] = t.TempDir()
			}
			var (
				mu  sync.Mutex
				fig = raceFigures{runs: racers * rounds}
			)
			start := time.Now()
			for round := range rounds {
				var wg sync.WaitGroup
				for racer := range racers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						ctx := context.Background()
						var attempts []Attempt
						repo, err := Checkout(ctx, rr.spec, workdirs[racer], WithBackoff(50*time.Millisecond, 2*time.Second))
						if err == nil {
							attempts, err = Publish(ctx, repo, ownFileRewrite(racer, round), DirectPush{})
						}
						mu.Lock()
						defer mu.Unlock()
						fig.attempts += len(attempts)
						switch {
						case err != nil:
							fig.failed++
							t.Errorf("racer %d round %d: %v", racer, round, err)
						case !attempts[len(attempts)-1].Pushed:
							fig.failed++
							t.Errorf("racer %d round %d: last attempt %+v did not push", racer, round, attempts[len(attempts)-1])
						default:
							fig.succeeded++
						}
					}()
				}
				wg.Wait()
			}
			elapsed := time.Since(start)

			log := gitRun(t, rr.bare, nil, "log", "--format=%s", base+"..main")
			for racer := range racers {
				for round := range rounds {
					want := fmt.Sprintf("racer %d round %d", racer, round)
					if n := strings.Count(log, want+"\n"); n != 1 {
						fig.lost++
						t.Errorf("%q is on the remote %d times, want once", want, n)
					}
				}
				if got, want := gitRun(t, rr.bare, nil, "show", fmt.Sprintf("main:racers/r%d.txt", racer)), fmt.Sprintf("round %d\n", rounds-1); got != want {
					t.Errorf("racer %d's file = %q, want %q", racer, got, want)
				}
			}
			if n := strings.TrimSpace(gitRun(t, rr.bare, nil, "rev-list", "--count", base+"..main")); n != fmt.Sprint(racers*rounds) {
				t.Errorf("%s commits on main since the fixture, want %d", n, racers*rounds)
			}
			if m := gitRun(t, rr.bare, nil, "rev-list", "--merges", "main"); m != "" {
				t.Errorf("history is not linear; merges:\n%s", m)
			}
			gitRun(t, rr.bare, nil, "fsck", "--no-progress")
			t.Logf("race over %s: %d runs, %d succeeded, %d failed, %d changes lost; %d attempts (%.2f per run) in %s",
				transport, fig.runs, fig.succeeded, fig.failed, fig.lost, fig.attempts, float64(fig.attempts)/float64(fig.runs), elapsed.Round(time.Millisecond))
		})
	}
}

// TestPublishGivesUp makes every attempt lose: another writer pushes
// between each rewrite and its push. Publish must stop after
// push.attempts, with a *GiveUpError naming the count that is not bad
// input, and leave the other writer's commits alone.
func TestPublishGivesUp(t *testing.T) {
	for _, transport := range []string{"file", "http"} {
		t.Run(transport, func(t *testing.T) {
			rr := newRaceRemote(t, transport)
			spec := rr.spec
			spec.Push.Attempts = 3
			ctx := context.Background()
			repo, err := Checkout(ctx, spec, t.TempDir(), WithBackoff(time.Millisecond, 5*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			var theirs string
			n := 0
			rewrite := func(ctx context.Context, dir string) (Rewrite, error) {
				n++
				rw, err := ownFileRewrite(0, n)(ctx, dir)
				theirs = pushFromElsewhere(t, rr.bare, "main", map[string]string{fmt.Sprintf("other/%d.txt", n): "x\n"}, fmt.Sprintf("other %d", n))
				return rw, err
			}
			attempts, err := Publish(ctx, repo, rewrite, nil)
			var gu *GiveUpError
			if !errors.As(err, &gu) {
				t.Fatalf("Publish() error = %v, want a *GiveUpError", err)
			}
			t.Logf("error: %v", err)
			if !errors.Is(err, ErrPushRejected) || IsBadInput(err) {
				t.Errorf("Publish() error %q: want ErrPushRejected in its chain and not bad input", err)
			}
			for _, want := range []string{"3 attempts", "push.attempts", "lost a race"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if len(attempts) != 3 || n != 3 {
				t.Fatalf("got %d attempts and %d rewrites, want 3 each", len(attempts), n)
			}
			for i, a := range attempts {
				if a.Number != i+1 || a.Commit == "" || a.Pushed || !errors.Is(a.Err, ErrPushRejected) {
					t.Errorf("attempt %d = %+v, want a commit that lost its race", i+1, a)
				}
				if i > 0 && a.Base == attempts[i-1].Base {
					t.Errorf("attempt %d built on %s again; it must refresh to the new tip", i+1, a.Base)
				}
				if (a.Wait == 0) != (i == len(attempts)-1) {
					t.Errorf("attempt %d waited %s before the next", i+1, a.Wait)
				}
			}
			if got := revParse(t, rr.bare, "main"); got != theirs {
				t.Errorf("remote main = %s, want the other writer's %s", got, theirs)
			}
		})
	}
}
