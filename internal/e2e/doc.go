// Package e2e holds uptick's process-level acceptance tests: the real
// binary, built once per test process by TestMain, run as a CronJob would
// run it, against real servers on 127.0.0.1 (ggcr's in-process registry,
// `git http-backend`, OpenSSH sshd, file:// remotes, Gitea). They prove
// what only whole processes can show:
//
//   - TestPushRaces: 4 concurrent runs per round, each updating its own
//     image, over file://, HTTP and SSH: every change lands, linear history,
//     no force-push. UPTICK_E2E_ROUNDS sets the rounds (default 10) for a
//     soak run.
//   - TestPushGivesUpWhenEveryAttemptLoses: a remote that moves under every
//     push; the run stops after git.push.attempts and exits 1.
//   - TestCrashSafety: SIGKILL injected by strace at the first write to each
//     git metadata file of a fresh and a warm --workdir and to a file://
//     remote's branch ref; the next run converges, a third does nothing.
//   - TestPreflight: signing-key and credential problems exit 2 before any
//     request reaches the registry or the git server.
//   - TestSignals, TestBrokenStdoutPipe: SIGTERM and SIGINT exit 3, and no
//     temporary clone outlives any exit, SIGPIPE included.
//   - TestStuckRegistry: beside a healthy registry, a fault-injecting proxy
//     in front of a real one hangs, trickles its bodies or answers 429 with
//     Retry-After: 3600; with default flags the run ends in bounded time,
//     exits 1 naming the stuck image, and the healthy image is pushed.
//   - TestWorkdirVolumeUnderReadOnlyRoot: a --workdir volume mounted under a
//     read-only parent (unshare and a read-only bind mount).
//   - TestPullRequestRuns, TestConcurrentPullRequestRuns,
//     TestPullRequestPreflight: git.push.pullRequest against a real Gitea
//     (hack/tools/gitea.sh): opened, unchanged, updated, as the JSON report
//     and the text say; two processes at once open one pull request; an
//     unset token variable is exit 2 before any request.
//
// The tests use only the CLI's stable interface: the flags of `uptick run`
// and `uptick plan`, exit codes, and the remote's state read with the git
// CLI. They need git, sshd, strace, unshare and Gitea (`make tools`
// installs or builds them). The package has no non-test code.
package e2e
