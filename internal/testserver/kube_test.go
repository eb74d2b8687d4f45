package testserver

import (
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestStartKube starts etcd, kube-apiserver and kube-controller-manager,
// uses them, and checks that Stop leaves no process and no file behind.
func TestStartKube(t *testing.T) {
	k, err := StartKube(KubeOptions{ControllerManager: true})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			k.Stop()
		}
	}()
	code, body, err := k.Do(http.MethodGet, "/version", "", nil)
	if err != nil || code != http.StatusOK || !strings.Contains(string(body), `"gitVersion": "`+KubeVersion+`"`) {
		t.Fatalf("/version: %d %v %s", code, err, body)
	}
	ns := k.Namespace(t)
	if code, _, err := k.Do(http.MethodGet, "/api/v1/namespaces/"+ns, "", nil); err != nil || code != http.StatusOK {
		t.Fatalf("namespace %s: %d %v", ns, code, err)
	}
	if _, err := os.Stat(k.Kubeconfig); err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, p := range k.procs {
		pids = append(pids, p.cmd.Process.Pid)
	}
	if len(pids) != 3 {
		t.Fatalf("%d processes, want etcd, kube-apiserver and kube-controller-manager", len(pids))
	}
	dirs := append([]string(nil), k.tmp...)
	k.Stop()
	stopped = true
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("process %d still runs after Stop", pid)
		}
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still exists after Stop", d)
		}
	}
}
