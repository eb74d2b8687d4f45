package update

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

func TestRewrite(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     string
		changes  []Change
		warnings []string
		errLine  int // >0: a *FileError at this line is expected
	}{
		{name: "empty", in: "", want: ""},
		{name: "no marker", in: "image: x:1 # a comment\n", want: "image: x:1 # a comment\n"},
		{
			name: "syntax error in a document without markers",
			in:   "a: [unclosed\n---\nimage: x:1 # {\"$imagepolicy\": \"nginx\"}\n---\nb: \"open\n",
			want: "a: [unclosed\n---\nimage: docker.io/library/nginx:1.27.3 # {\"$imagepolicy\": \"nginx\"}\n---\nb: \"open\n",
			changes: []Change{{File: "f.yaml", Line: 3, Policy: PolicyRef{Name: "nginx"}, Image: PolicyRef{Name: "nginx"},
				Old: "x:1", New: "docker.io/library/nginx:1.27.3"}},
		},
		{
			name:    "syntax error in the marked document: the whole file's error",
			in:      "a: 1\n---\nimage: x:1 # {\"$imagepolicy\": \"nginx\"}\nb: [unclosed\n",
			want:    "a: 1\n---\nimage: x:1 # {\"$imagepolicy\": \"nginx\"}\nb: [unclosed\n",
			errLine: 4,
		},
		{
			name: "alias to an anchor of an earlier document",
			in:   "a: &x x:0\n---\nb: *x\nimage: x:1 # {\"$imagepolicy\": \"nginx\"}\n",
			want: "a: &x x:0\n---\nb: *x\nimage: docker.io/library/nginx:1.27.3 # {\"$imagepolicy\": \"nginx\"}\n",
			changes: []Change{{File: "f.yaml", Line: 4, Policy: PolicyRef{Name: "nginx"}, Image: PolicyRef{Name: "nginx"},
				Old: "x:1", New: "docker.io/library/nginx:1.27.3"}},
		},
		{
			name: "object and line",
			in:   "kind: Deployment\nmetadata:\n  name: web\n  namespace: prod\nspec:\n  image: x:1 # {\"$imagepolicy\": \"nginx\"}\n",
			want: "kind: Deployment\nmetadata:\n  name: web\n  namespace: prod\nspec:\n  image: docker.io/library/nginx:1.27.3 # {\"$imagepolicy\": \"nginx\"}\n",
			changes: []Change{{File: "f.yaml", Line: 6, Object: "Deployment/prod/web", Policy: PolicyRef{Name: "nginx"}, Image: PolicyRef{Name: "nginx"},
				Old: "x:1", New: "docker.io/library/nginx:1.27.3"}},
		},
		{
			name: "root scalar document",
			in:   "--- x:1 # {\"$imagepolicy\": \"nginx:tag\"}\n",
			want: "--- 1.27.3 # {\"$imagepolicy\": \"nginx:tag\"}\n",
			changes: []Change{{File: "f.yaml", Line: 1, Policy: PolicyRef{Name: "nginx"}, Image: PolicyRef{Name: "nginx"}, Field: FieldTag,
				Old: "x:1", New: "1.27.3"}},
		},
		{
			name:    "property on its own line",
			in:      "a: &x\n  x:1 # {\"$imagepolicy\": \"nginx:tag\"}\n",
			want:    "a: &x\n  1.27.3 # {\"$imagepolicy\": \"nginx:tag\"}\n",
			changes: []Change{{File: "f.yaml", Line: 2, Policy: PolicyRef{Name: "nginx"}, Image: PolicyRef{Name: "nginx"}, Field: FieldTag, Old: "x:1", New: "1.27.3"}},
		},
		{
			name:     "warnings sorted by line",
			in:       "a: x # {\"$imagepolicy\": \"zz\"}\nb: x # {\"$imagepolicy\": \"a:b:c:d\"}\n",
			want:     "a: x # {\"$imagepolicy\": \"zz\"}\nb: x # {\"$imagepolicy\": \"a:b:c:d\"}\n",
			warnings: []string{`f.yaml:1: no image policy "zz"`, `f.yaml:2: marker "a:b:c:d" has too many parts: left alone`},
		},
		{
			name:     "incomplete image",
			in:       "a: x # {\"$imagepolicy\": \"incomplete:name\"}\n",
			want:     "a: x # {\"$imagepolicy\": \"incomplete:name\"}\n",
			warnings: []string{`f.yaml:1: image for policy "incomplete" has no repository or no tag: left alone`},
		},
		{
			name: "malformed markers are warnings, not silence",
			in:   "a: x:1 # {\"$imagepolicy\": \"nginx\"\nb: x:1 # {\"$imagepolicy\": \"nginx\"} please\nc: x:1 # {\"$imagepolicy\": \"nginx\"}\n",
			want: "a: x:1 # {\"$imagepolicy\": \"nginx\"\nb: x:1 # {\"$imagepolicy\": \"nginx\"} please\nc: docker.io/library/nginx:1.27.3 # {\"$imagepolicy\": \"nginx\"}\n",
			changes: []Change{{File: "f.yaml", Line: 3, Policy: PolicyRef{Name: "nginx"}, Image: PolicyRef{Name: "nginx"},
				Old: "x:1", New: "docker.io/library/nginx:1.27.3"}},
			warnings: []string{
				`f.yaml:1: malformed marker "{\"$imagepolicy\": \"nginx\"": not a JSON object (unclosed): left alone`,
				`f.yaml:2: malformed marker "{\"$imagepolicy\": \"nginx\"} please": unexpected text after the closing brace: left alone`,
			},
		},
		{
			name:     "image that failed this pass",
			in:       "a: x:1 # {\"$imagepolicy\": \"ns:down\"}\n",
			want:     "a: x:1 # {\"$imagepolicy\": \"ns:down\"}\n",
			warnings: []string{`f.yaml:1: skipped: image "ns:down" was not updated this pass: listing tags of "r.example/down": registry timed out`},
		},
		{name: "parse error", in: "a: 1\n b: 2 # \"$imagepolicy\"\n", want: "a: 1\n b: 2 # \"$imagepolicy\"\n", errLine: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			images := map[PolicyRef]Image{
				{Name: "incomplete"}:            {Repository: "example.org/x"},
				{Namespace: "ns", Name: "down"}: {Unavailable: `listing tags of "r.example/down": registry timed out`},
			}
			for k, v := range testImages {
				images[k] = v
			}
			out, changes, warnings, err := Rewrite("f.yaml", []byte(tt.in), images)
			if tt.errLine > 0 {
				var fe *FileError
				if !errors.As(err, &fe) || fe.Line != tt.errLine || fe.File != "f.yaml" {
					t.Fatalf("err = %v, want a *FileError at f.yaml:%d", err, tt.errLine)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(out)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.changes, changes); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			var ws []string
			for _, w := range warnings {
				ws = append(ws, w.String())
			}
			if diff := cmp.Diff(tt.warnings, ws); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestScalarSpanVerifies feeds positions that do not match the source: the
// span check must refuse them rather than guess.
func TestScalarSpanVerifies(t *testing.T) {
	tests := []struct {
		name string
		src  string
		node yaml.Node
	}{
		{name: "column off by one", src: "k: abc\n", node: yaml.Node{Kind: yaml.ScalarNode, Value: "abc", Line: 1, Column: 3}},
		{name: "wrong value", src: "k: abd\n", node: yaml.Node{Kind: yaml.ScalarNode, Value: "abc", Line: 1, Column: 4}},
		{name: "line past end", src: "k: abc\n", node: yaml.Node{Kind: yaml.ScalarNode, Value: "abc", Line: 9, Column: 1}},
		{name: "column past line", src: "k: abc\nx", node: yaml.Node{Kind: yaml.ScalarNode, Value: "abc", Line: 1, Column: 40}},
		{name: "not double quoted", src: "k: abc\n", node: yaml.Node{Kind: yaml.ScalarNode, Style: yaml.DoubleQuotedStyle, Value: "abc", Line: 1, Column: 4}},
		{name: "unterminated single", src: "k: 'abc\n", node: yaml.Node{Kind: yaml.ScalarNode, Style: yaml.SingleQuotedStyle, Value: "abc", Line: 1, Column: 4}},
		{name: "bytes not runes", src: "é: abc\n", node: yaml.Node{Kind: yaml.ScalarNode, Value: "abc", Line: 1, Column: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := []byte(tt.src)
			_, _, _, err := scalarSpan(src, lineStarts(src), &tt.node, false)
			if err == nil {
				t.Fatal("scalarSpan accepted a wrong position")
			}
		})
	}
	src := []byte("\ufeffé\u2028k: 'a''b' # c\r\n")
	start, end, multi, err := scalarSpan(src, lineStarts(src), &yaml.Node{Kind: yaml.ScalarNode, Style: yaml.SingleQuotedStyle, Value: "a'b", Line: 2, Column: 4}, false)
	if err != nil || multi || string(src[start:end]) != "'a''b'" {
		t.Errorf("scalarSpan = %q, %v, %v", src[start:end], multi, err)
	}
}

func TestParseErrorLine(t *testing.T) {
	const m = " # \"$imagepolicy\"\n"
	tests := []struct {
		name string
		src  string
		line int
		msg  string
	}{
		{name: "unclosed flow sequence", src: "a: 1\nb: [x" + m + "c: 2\n", line: 2, msg: "did not find expected ',' or ']'"},
		{name: "unclosed flow at end of file", src: "b: [x" + m, line: 2, msg: "did not find expected ',' or ']'"},
		{name: "sequence in mapping", src: "a: 1\nb: 2\n- c" + m, line: 3, msg: "did not find expected key"},
		{name: "bad indentation", src: "a: 1\nb: 2\n c: 3" + m, line: 3, msg: "mapping values are not allowed in this context"},
		{name: "tab indentation", src: "a: 1" + m + "\tb: 2\n", line: 2, msg: "found character that cannot start any token"},
		{name: "unknown anchor", src: "a: *nope" + m, line: 0, msg: "unknown anchor 'nope' referenced"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := Rewrite("f.yaml", []byte(tt.src), testImages)
			var fe *FileError
			if !errors.As(err, &fe) || !errors.Is(err, ErrParse) {
				t.Fatalf("err = %v, want a *FileError wrapping ErrParse", err)
			}
			if diff := cmp.Diff([]any{tt.line, "cannot parse yaml: " + tt.msg}, []any{fe.Line, fe.Err.Error()}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// lineStartsByByte is lineStarts as it was before the byte search: every
// byte asked whether a break starts there.
func lineStartsByByte(src []byte) []int {
	starts := []int{0}
	for i := 0; i < len(src); i++ {
		if w := breakWidth(src, i); w > 0 {
			i += w - 1
			starts = append(starts, i+1)
		}
	}
	return starts
}

func TestLineStarts(t *testing.T) {
	for _, src := range []string{
		"", "a", "a\n", "a\nb", "\n\n", "a\r\nb\rc\n", "a\u0085b\u2028c\u2029d", "é\nè\n", "\xc2\n\xe2\x80\n\xe2", "a\r", "\r\n\r\n",
	} {
		t.Run(fmt.Sprintf("%q", src), func(t *testing.T) {
			if diff := cmp.Diff(lineStartsByByte([]byte(src)), lineStarts([]byte(src))); diff != "" {
				t.Errorf("lineStarts (-by byte +got):\n%s", diff)
			}
		})
	}
}

func FuzzLineStarts(f *testing.F) {
	for _, s := range []string{"a\nb", "a\r\nb", "x\u2028y\u0085z", "\xe2\x80\xa8\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		if diff := cmp.Diff(lineStartsByByte(src), lineStarts(src)); diff != "" {
			t.Errorf("lineStarts(%q) (-by byte +got):\n%s", src, diff)
		}
	})
}
