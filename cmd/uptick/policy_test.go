package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyTagsFrom(t *testing.T) {
	tags := "1.0.0\n1.2.0\nv1.3.0\n2.0.0\n1.3.0-rc.1\n\n1.2.9.sig\nmain-abc-100\nmain-def-99\n"
	file := filepath.Join(t.TempDir(), "tags.txt")
	if err := os.WriteFile(file, []byte(tags), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		stdin      bool
		code       int
		out, inErr string
	}{
		{name: "semver from a file", args: []string{"--tags-from", file, "--semver", "^1.x"}, out: "v1.3.0\n"},
		{name: "semver from stdin", args: []string{"--tags-from", "-", "--semver", "~1.2"}, stdin: true, out: "1.2.0\n"},
		{name: "prerelease range", args: []string{"--tags-from", file, "--semver", ">=1.3.0-0 <1.3.0"}, out: "1.3.0-rc.1\n"},
		{name: "alphabetical desc", args: []string{"--tags-from", file, "--alphabetical", "desc"}, out: "1.0.0\n"},
		{name: "numerical with extract", args: []string{"--tags-from", file, "--numerical", "asc", "--filter-pattern", `^main-[a-f0-9]+-(?P<ts>[0-9]+)$`, "--filter-extract", "$ts"}, out: "main-abc-100\n"},
		{name: "exclude", args: []string{"--tags-from", file, "--alphabetical", "asc", "--exclude", `^main-`, "--exclude", `^v`}, out: "2.0.0\n"},
		{name: "no tag fits", args: []string{"--tags-from", file, "--semver", "^5"}, code: exitFailed, inErr: `none of 8 tags satisfies semver "^5"`},
		{name: "bad range", args: []string{"--tags-from", file, "--semver", "^^5"}, code: exitBadInput, inErr: `--semver: invalid semver range "^^5"`},
		{name: "bad exclude names the flag", args: []string{"--tags-from", file, "--semver", "*", "--exclude", "x", "--exclude", "("}, code: exitBadInput, inErr: "--exclude (#2): invalid regular expression"},
		{name: "no strategy", args: []string{"--tags-from", file}, code: exitBadInput, inErr: "one of semver, alphabetical or numerical is required"},
		{name: "two strategies", args: []string{"--tags-from", file, "--semver", "*", "--numerical", "asc"}, code: exitBadInput, inErr: "only one of"},
		{name: "missing file", args: []string{"--tags-from", file + ".nope", "--semver", "*"}, code: exitBadInput, inErr: "--tags-from:"},
		{name: "policy flags need --tags-from", args: []string{"--semver", "*"}, code: exitBadInput, inErr: "need --tags-from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdin string
			if tt.stdin {
				stdin = tags
			}
			res := uptickCmdIn(context.Background(), stdin, nil, append([]string{"policy"}, tt.args...)...)
			if res.code != tt.code || res.stdout != tt.out || !strings.Contains(res.stderr, tt.inErr) {
				t.Errorf("exit %d stdout %q stderr %q; want exit %d, stdout %q, stderr containing %q", res.code, res.stdout, res.stderr, tt.code, tt.out, tt.inErr)
			}
		})
	}
}
