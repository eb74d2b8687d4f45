package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/uptick-gitops/uptick/cmd/uptick/config"
)

// TestDeployExamples keeps what users copy from deploy/ in step with the
// code: the example config loads, and the CronJob runs the config it mounts.
func TestDeployExamples(t *testing.T) {
	cfg, err := config.Load(filepath.Join("..", "..", "deploy", "kubernetes", "uptick.yaml"))
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	if cfg.Git.Commit.SigningKey == nil || cfg.Git.Commit.SigningKey.File != "/etc/uptick-keys/key.asc" {
		t.Errorf("example config signing key = %+v", cfg.Git.Commit.SigningKey)
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", "cronjob.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cj, err := yaml.Parse(string(data))
	if err != nil {
		t.Fatalf("cronjob.yaml: %v", err)
	}
	args, err := cj.Pipe(yaml.Lookup("spec", "jobTemplate", "spec", "template", "spec", "containers", "[name=uptick]", "args"))
	if err != nil || args == nil {
		t.Fatalf("no uptick container args: %v", err)
	}
	want := []string{"run", "--config=/etc/uptick/uptick.yaml", "--log-format=json"}
	var got []string
	for _, n := range args.YNode().Content {
		got = append(got, n.Value)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("container args (-want +got):\n%s", diff)
	}
	// The args must be flags this binary's run command accepts.
	if err := newCmdRun(ioStreams{}, &globalOptions{}).ParseFlags(want[1:2]); err != nil {
		t.Errorf("run rejects %v: %v", want[1:], err)
	}
}
