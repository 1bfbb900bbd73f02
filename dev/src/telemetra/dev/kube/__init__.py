"""A real Kubernetes control plane (etcd, kube-apiserver, controller manager, scheduler, kwok) as plain local
processes for the operator's tests and local development, built from the Go module proxy; plus helm."""
