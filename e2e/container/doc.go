//go:build linux

// Package container tests the shipped container artefacts with podman: the image built from
// the repository's Dockerfile, run with --network host inside a network namespace the test
// makes, capturing real HTTP traffic and posting it to the demo collector as a non-root user
// with only CAP_NET_RAW; and the docker-compose.yml demo, brought up with the podman commands
// equivalent to `docker compose up` (podman-compose 1.0.3, Debian's, cannot run a service in
// another service's network namespace nor read env_file's long form).
//
// No image registry is reachable where these tests run, so the base images the Dockerfiles
// name (golang:1.26-bookworm, debian:bookworm-slim) are made locally: debootstrap builds
// bookworm root file systems once (cached under .cache/container), and podman import tags
// them with those names, the Go toolchain of this machine added to the build image. podman
// runs with its own storage and configuration under .cache/container (runc, cgroupfs, no
// default ulimits), leaving the machine's podman setup alone.
//
// The tests need root, podman, runc and debootstrap (scripts/setup.sh installs them) and skip,
// saying why, without them. The first run takes minutes (debootstrap, image builds); later
// runs reuse the cached root file systems, base images and build layers.
package container
