// Package procbench measures uptick as whole processes, the way a CronJob
// runs it, against grep over the same generated fleets (internal/fleet) in
// the same run, and holds the process-level memory bounds.
//
// The benchmarks (`make bench`) run uptick and `grep -rl '"$imagepolicy"'`
// in turn, pair by pair, and report the median of the per-pair ratios, so
// a figure holds when the machine's speed drifts:
//
//   - BenchmarkUpdateVsGrep: `uptick update --path` on 10,000 files (1% and
//     10% marked) and 50,000 files (1% marked), with a change to write in
//     every run ("cold") or nothing to change.
//   - BenchmarkSteadyPass: `uptick run --workdir` over a 10,000-file
//     repository (git http-backend) and a local registry where nothing
//     changed: the pass's wall time and its durationsMs.
//
// The tests check peak RSS (the kernel's count for the finished process):
// the update stage on the 10% tree, and a tree holding a 50 MB YAML file
// with a marker, which is refused with a warning while the other files
// are updated.
package procbench
