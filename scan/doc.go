// Package scan owns talking to container registries with
// go-containerregistry: authentication, TLS, listing tags (with pagination),
// concurrency across repositories, and digest look-ups for chosen tags.
package scan
