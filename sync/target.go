package sync

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultRequestTimeout bounds every request to the API server.
const DefaultRequestTimeout = 60 * time.Second

// Target says which cluster to talk to and as whom.
type Target struct {
	// Kubeconfig is a kubeconfig file; "" means $KUBECONFIG (a
	// colon-separated list), else the pod's service account when running
	// in a cluster, else ~/.kube/config.
	Kubeconfig string
	// Context is the kubeconfig context; "" means its current context.
	Context string
	// ServiceAccount, "NAMESPACE/NAME", is impersonated for every request.
	ServiceAccount string
	// UserAgent is sent with every request; default "uptick".
	UserAgent string
	// Getenv reads KUBECONFIG, HOME and the in-cluster variables; default
	// os.Getenv.
	Getenv func(string) string
}

// TargetError is a target that cannot be used as given (no kubeconfig, an
// unknown context): bad input.
type TargetError struct{ Err error }

// Error implements error.
func (e *TargetError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *TargetError) Unwrap() error { return e.Err }

// BadInput reports that only a change of config or environment fixes it.
func (e *TargetError) BadInput() bool { return true }

// inClusterTokenFile is where Kubernetes mounts a pod's service account
// token.
const inClusterTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// RESTConfig resolves t to a client configuration and the namespace for
// manifests that name none (the context's namespace, else "default"),
// reading no more than the kubeconfig file: in-cluster config in a pod
// unless a kubeconfig is named, else the kubeconfig with the optional
// context. Client-side rate limiting is off (the sync bounds its own
// concurrency) and every request is bounded by DefaultRequestTimeout.
// Errors are *TargetError.
func RESTConfig(t Target) (*rest.Config, string, error) {
	getenv := t.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	var cfg *rest.Config
	namespace := "default"
	kubeconfig := t.Kubeconfig
	if kubeconfig == "" {
		kubeconfig = getenv("KUBECONFIG")
	}
	switch {
	case kubeconfig == "" && getenv("KUBERNETES_SERVICE_HOST") != "" && fileExists(inClusterTokenFile):
		if t.Context != "" {
			return nil, "", &TargetError{fmt.Errorf("context %q: running in a pod without a kubeconfig, there are no contexts (set a kubeconfig to use one)", t.Context)}
		}
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, "", &TargetError{fmt.Errorf("in-cluster config: %w", err)}
		}
		cfg = c
	default:
		rules := &clientcmd.ClientConfigLoadingRules{}
		switch {
		case t.Kubeconfig != "":
			if fi, err := os.Stat(t.Kubeconfig); err != nil || fi.IsDir() {
				return nil, "", &TargetError{fmt.Errorf("kubeconfig %s: no such file", t.Kubeconfig)}
			}
			rules.ExplicitPath = t.Kubeconfig
		case kubeconfig != "":
			rules.Precedence = filepath.SplitList(kubeconfig)
		default:
			home := getenv("HOME")
			if home == "" {
				home, _ = os.UserHomeDir()
			}
			def := filepath.Join(home, ".kube", "config")
			if !fileExists(def) {
				return nil, "", &TargetError{errors.New("no cluster to sync to: set --kubeconfig (or sync.kubeconfig) or KUBECONFIG, or run in a pod")}
			}
			rules.ExplicitPath = def
		}
		overrides := &clientcmd.ConfigOverrides{CurrentContext: t.Context}
		cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
		c, err := cc.ClientConfig()
		if err != nil {
			return nil, "", &TargetError{fmt.Errorf("kubeconfig: %s", kubeconfigMessage(err))}
		}
		if ns, _, err := cc.Namespace(); err == nil && ns != "" {
			namespace = ns
		}
		cfg = c
	}
	if t.ServiceAccount != "" {
		ns, name, err := ParseNamespacedName(t.ServiceAccount)
		if err != nil {
			return nil, "", &TargetError{fmt.Errorf("service account to impersonate: %w", err)}
		}
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + name}
	}
	cfg.QPS = -1 // no client-side throttling: concurrency is bounded instead
	cfg.Burst = 0
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultRequestTimeout
	}
	cfg.UserAgent = t.UserAgent
	if cfg.UserAgent == "" {
		cfg.UserAgent = "uptick"
	}
	return cfg, namespace, nil
}

// kubeconfigMessage drops client-go's advice about flags uptick does not
// have.
func kubeconfigMessage(err error) string {
	msg := err.Error()
	msg = strings.TrimSuffix(msg, "\n")
	if i := strings.Index(msg, "invalid configuration: "); i >= 0 {
		msg = msg[i+len("invalid configuration: "):]
	}
	return msg
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}
