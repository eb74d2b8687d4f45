// Package testserver starts the real servers uptick's tests run against,
// on 127.0.0.1 only: Debian's docker-registry (distribution) with TLS and
// htpasswd, the real `git http-backend`, and OpenSSH's sshd. Each is started
// for one test and stopped in its Cleanup. A missing binary fails the test
// with the command that installs it (`make tools`); it never skips, because
// a skipped end-to-end test proves nothing in CI.
//
// Only tests import this package.
package testserver
