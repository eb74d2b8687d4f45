package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/uptick-gitops/uptick/internal/testserver"
)

// roundsEnv sets the rounds each racer does in TestPushRaces; a soak run
// sets it high, e.g. UPTICK_E2E_ROUNDS=200.
const roundsEnv = "UPTICK_E2E_ROUNDS"

// racers is how many uptick processes race to push in TestPushRaces.
const racers = 4

func raceRounds(t *testing.T) int {
	t.Helper()
	s := os.Getenv(roundsEnv)
	if s == "" {
		return 10
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number of rounds", roundsEnv, s)
	}
	return n
}

// TestPushRaces runs 4 real uptick processes at once against one remote,
// round after round (all four start together, as copies of a CronJob do at
// a tick), each with its own --workdir and each updating its own
// image in its own file, so every change must land: whoever loses a push
// race must fetch, rewrite on the new tip and push again. Over file://,
// git http-backend and sshd: every run exits 0, every change is on the
// remote exactly once, history is linear and nothing was force-pushed
// (every round's commit is reachable from the final tip).
func TestPushRaces(t *testing.T) {
	// Beside TestStuckRegistry only, which is idle waiting on stuck
	// servers; the transports race one after the other.
	t.Parallel()
	rounds := raceRounds(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fleet) configSpec
	}{
		{"file", func(t *testing.T, f *fleet) configSpec { return configSpec{} }},
		{"http", func(t *testing.T, f *fleet) configSpec {
			srv := testserver.GitHTTP(t, filepath.Dir(f.bare), testserver.GitHTTPOptions{})
			return configSpec{url: srv.URL + "/" + filepath.Base(f.bare)}
		}},
		{"ssh", func(t *testing.T, f *fleet) configSpec { return sshRemote(t, f) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFleet(t, racers)
			spec := tt.setup(t, f)
			start := time.Now()
			results := race(t, f, spec, rounds)
			took := time.Since(start)

			commits, changes := f.history()
			landed := map[change]int{}
			for _, sha := range commits {
				for _, c := range changes[sha] {
					landed[c]++
				}
				if n := len(changes[sha]); n != 1 {
					t.Errorf("commit %s makes %d image changes, want 1 (%v)", sha, n, changes[sha])
				}
			}
			var survived, failed, lost int
			for app := range racers {
				for r := 1; r <= rounds; r++ {
					res := results[app][r-1]
					c := change{app, roundTag(r)}
					switch {
					case res.code != 0:
						failed++
						if failed <= 3 {
							t.Errorf("racer %d round %d failed:\n%s", app, r, res)
						}
					case landed[c] != 1:
						lost++
						if lost <= 3 {
							t.Errorf("racer %d round %d exited 0 but app%d:%s is in %d commits on the remote, want 1:\n%s", app, r, app, c.tag, landed[c], res)
						}
					default:
						survived++
					}
				}
			}
			t.Logf("%s: %d racers x %d rounds in %s: %d tries, %d survived, %d failed (exit != 0), %d lost (exit 0, change not on the remote)",
				tt.name, racers, rounds, took.Round(time.Millisecond), racers*rounds, survived, failed, lost)

			if merges := f.git("rev-list", "--merges", "main"); merges != "" {
				t.Errorf("history is not linear: merge commits %s", strings.Fields(merges))
			}
			if got, want := f.newCommits(f.seed), racers*rounds; got != want {
				t.Errorf("remote main has %d commits after the seed, want %d (one per change)", got, want)
			}
			for app := range racers {
				if got, want := f.tagOnRemote(app), roundTag(rounds); got != want {
					t.Errorf("app%d on the remote is at %s, want %s", app, got, want)
				}
			}
		})
	}
}

// roundTag is the tag a racer's image gets in round r (1-based).
func roundTag(r int) string { return fmt.Sprintf("1.0.%d", r) }

// race runs racers processes for rounds rounds: in each round a racer
// pushes its image's next tag to the registry, then runs uptick with a
// config naming only its own image. results[app][round-1] is each run.
func race(t *testing.T, f *fleet, spec configSpec, rounds int) [][]result {
	t.Helper()
	results := make([][]result, racers)
	configs := make([]string, racers)
	for app := range racers {
		s := spec
		s.apps = []int{app}
		configs[app] = f.writeConfig(fmt.Sprintf("racer%d.yaml", app), s)
		results[app] = make([]result, rounds)
	}
	// A round is what a CronJob tick does when several copies run: all
	// racers start together, and the next round starts when all are done.
	for r := 1; r <= rounds; r++ {
		var wg sync.WaitGroup
		var ready sync.WaitGroup
		ready.Add(racers)
		gate := make(chan struct{})
		for app := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				work := filepath.Join(f.dir, fmt.Sprintf("work%d", app))
				f.pushTag(app, roundTag(r))
				ready.Done()
				<-gate
				results[app][r-1] = uptick(t, nil, "run", "--config", configs[app], "--workdir", work)
			}()
		}
		ready.Wait()
		close(gate)
		wg.Wait()
	}
	return results
}

// sshRemote starts the real sshd with a fresh client key and returns the
// config pointing at the fleet over ssh://.
func sshRemote(t *testing.T, f *fleet) configSpec {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "uptick e2e")
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	srv := testserver.SSHD(t, testserver.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{sshPub}})
	key := filepath.Join(f.dir, "id_ed25519")
	if err := os.WriteFile(key, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	hosts := filepath.Join(f.dir, "known_hosts")
	writeFile(t, hosts, srv.KnownHostsLine+"\n")
	return configSpec{url: srv.URL(f.bare), auth: fmt.Sprintf("{sshKeyFile: %s, knownHostsFile: %s}", key, hosts)}
}

// TestPushGivesUpWhenEveryAttemptLoses serves the fleet over the real git
// http-backend and moves the branch under every push: a colleague commits
// just before each push, either before the server advertises its refs
// (the client sees it is behind) or after (the real receive-pack refuses
// with "cannot lock ref … is at X but expected Y"). Every attempt loses, so
// the run must give up after the configured attempts (git.push.attempts,
// default 5), say so, exit 1, and leave nothing of its own on the remote.
func TestPushGivesUpWhenEveryAttemptLoses(t *testing.T) {
	tests := []struct {
		name     string
		moment   string // "advertisement" or "receive-pack"
		attempts int    // 0: the default
		want     int
	}{
		{"remote moves before the ref advertisement, 3 attempts", "advertisement", 3, 3},
		{"remote moves after the ref advertisement, 3 attempts", "receive-pack", 3, 3},
		{"remote moves after the ref advertisement, default attempts", "receive-pack", 0, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFleet(t, 1)
			f.pushTag(0, "1.0.1")
			var pushes atomic.Int64
			srv := testserver.GitHTTP(t, filepath.Dir(f.bare), testserver.GitHTTPOptions{})
			next := srv.Config.Handler
			srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				advert := r.Method == http.MethodGet && r.URL.Query().Get("service") == "git-receive-pack"
				pack := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack")
				if advert {
					pushes.Add(1) // every push attempt starts with the advertisement
				}
				if (advert && tt.moment == "advertisement") || (pack && tt.moment == "receive-pack") {
					colleagueCommit(t, f.bare)
				}
				next.ServeHTTP(w, r)
			})
			spec := configSpec{url: srv.URL + "/" + filepath.Base(f.bare)}
			if tt.attempts > 0 {
				spec.push = fmt.Sprintf("attempts: %d", tt.attempts)
			}
			cfg := f.writeConfig("uptick.yaml", spec)

			res := uptick(t, nil, "run", "--config", cfg)
			t.Logf("%d push attempts in %s", pushes.Load(), res.took.Round(time.Millisecond))
			if res.code != 1 {
				t.Errorf("exit %d, want 1:\n%s", res.code, res)
			}
			if got := pushes.Load(); got != int64(tt.want) {
				t.Errorf("%d push attempts reached the server, want %d", got, tt.want)
			}
			// The message says it gave up, and after how many attempts.
			count := regexp.MustCompile(fmt.Sprintf(`(?i)\b%d\b[^\n]*attempt|attempt[^\n]*\b%d\b`, tt.want, tt.want))
			if out := res.stdout + res.stderr; !count.MatchString(out) {
				t.Errorf("the output does not say the push was given up after %d attempts:\n%s", tt.want, res)
			}
			if mine := f.git("log", "--format=%H", "--author=uptick-e2e", "main"); mine != "" {
				t.Errorf("a commit of the run that gave up is on the remote: %s", mine)
			}
		})
	}
}

// colleagueCommit moves the bare repository's main by one empty commit,
// as someone else pushing at that moment would, with git plumbing only.
func colleagueCommit(t *testing.T, bare string) {
	t.Helper()
	out, err := gitCLIErr("", "--git-dir", bare, "commit-tree", "main^{tree}", "-p", "main", "-m", "colleague")
	if err != nil {
		t.Errorf("git commit-tree: %v\n%s", err, out)
		return
	}
	if out, err := gitCLIErr("", "--git-dir", bare, "update-ref", "refs/heads/main", out); err != nil {
		t.Errorf("git update-ref: %v\n%s", err, out)
	}
}
