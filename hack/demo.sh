#!/usr/bin/env bash
# demo.sh BINARY: runs `uptick demo`, then shows the pushed commit with the
# real git and gpg: `git log --show-signature -1`, where gpg must say
# "Good signature". Everything lives in a temporary directory removed on exit.
set -euo pipefail
bin=${1:?usage: demo.sh path/to/uptick}

tmp=$(mktemp -d /tmp/uptick-demo.XXXXXX)
export GNUPGHOME=$tmp/gnupg
cleanup() {
	gpgconf --kill gpg-agent >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

"$bin" demo --dir "$tmp/work"

mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --import "$tmp/work/signing-key.pub.asc" 2>/dev/null
fpr=$(gpg --batch --with-colons --list-keys | awk -F: '$1 == "fpr" { print $10; exit }')
echo "$fpr:6:" | gpg --batch --quiet --import-ownertrust 2>/dev/null

echo
echo "==> git log --show-signature -1 main (in $tmp/work/fleet.git, checked by gpg)"
out=$(git --git-dir "$tmp/work/fleet.git" log --show-signature -1 main 2>&1)
echo "$out"
grep -q 'Good signature' <<<"$out" || { echo "demo: gpg did not report a good signature" >&2; exit 1; }
