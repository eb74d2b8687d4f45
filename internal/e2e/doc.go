// Package e2e holds uptick's process-level acceptance tests: the real
// binary, built once per test process, run as a CronJob would run it,
// against real servers on 127.0.0.1 (ggcr's registry, `git http-backend`,
// OpenSSH sshd, file:// remotes). They prove what only whole processes
// can show: concurrent runs racing to push, kills injected at real
// syscalls with strace, signals, a broken stdout pipe, a read-only root
// filesystem, and checks made before any request is sent.
//
// The tests use only the CLI's stable interface: the flags of `uptick run`
// and `uptick plan`, exit codes, and the remote's state read with the git
// CLI. The package has no non-test code.
package e2e
