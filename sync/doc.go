// Package sync is the sync stage: it makes a cluster match the manifests in
// a directory of the checkout.
//
// It owns building the manifests (plain YAML found recursively, or a
// kustomization built in-process with sigs.k8s.io/kustomize/api, confined
// to the repository and never fetching remote bases), applying them with
// server-side apply as field manager "uptick" with forced ownership of the
// fields git declares (CustomResourceDefinitions and Namespaces first,
// waited on until established, then the rest with bounded concurrency),
// recording what it applied in an inventory ConfigMap, pruning what left
// git (only objects uptick applied, never one annotated
// uptick.dev/prune: disabled; Namespaces and CRDs last), waiting for health
// by kstatus rules, and reporting drift and per-object diffs.
//
// A sync where nothing changed costs reads only: one LIST (metadata only)
// per kind and namespace, then a decision per object from two facts that
// together say whether the live object still holds what uptick last applied:
//
//   - the annotation uptick.dev/applied-hash, a hash of the manifest as
//     applied, which uptick writes as one of its own fields;
//   - a hash of uptick's own managedFields entry (manager "uptick",
//     operation Apply), recorded in the inventory from the server's answer
//     to the last apply. The API server moves a field out of that entry
//     whenever another writer changes its value (kubectl edit, patch, a
//     forced apply by another manager) or removes it, so an entry that still
//     hashes the same means no field uptick owns was touched since.
//
// Anything else (no such entry, another hash, an object missing from the
// LIST or from the inventory) is applied again, so a missed decision costs
// one PATCH, never a wrong "unchanged".
//
// Only cmd/uptick joins this stage to the others.
package sync
