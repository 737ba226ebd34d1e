// Package deploy holds no code: its tests check the deployment files beside
// them (Dockerfile, Kubernetes manifests, compose.yaml, Prometheus rules,
// Grafana dashboard) against the real tools and the real order system. It
// is a module of its own so that k8s.io/api and compose-go reach no
// library module. See README.md.
package deploy
