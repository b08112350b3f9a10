# `docker buildx bake -f deploy/docker/docker-bake.hcl` builds the three images from the repo
# root; REGISTRY and TAG name them (e.g. TAG=$(git rev-parse --short HEAD)).
variable "REGISTRY" { default = "ghcr.io/rapport" }
variable "TAG" { default = "dev" }

group "default" { targets = ["ingest", "profile", "recommender"] }

target "_service" {
  context    = "."
  dockerfile = "deploy/docker/Dockerfile"
  platforms  = ["linux/amd64", "linux/arm64"]
}

target "ingest" {
  inherits = ["_service"]
  args     = { SERVICE = "ingest", PORT = "8001" }
  tags     = ["${REGISTRY}/rapport-ingest:${TAG}"]
}

target "profile" {
  inherits = ["_service"]
  args     = { SERVICE = "profile", PORT = "8002" }
  tags     = ["${REGISTRY}/rapport-profile:${TAG}"]
}

target "recommender" {
  inherits = ["_service"]
  args     = { SERVICE = "recommender", PORT = "8003" }
  tags     = ["${REGISTRY}/rapport-recommender:${TAG}"]
}
