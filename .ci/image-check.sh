#!/usr/bin/env bash
# Builds the container image from the Dockerfile with buildah and runs it:
#
#   bash .ci/image-check.sh
#
#   1. buildah build of the Dockerfile as it is, except the base: the
#      Prometheus busybox image cannot be pulled here (no registry but
#      Go's, Debian's and npm's), so `--from scratch` replaces it. The
#      Dockerfile has no RUN step, so nothing else depends on the base;
#   2. the image's config: the OCI labels Prometheus exporters carry (the
#      license matching LICENSE), user nobody, port 9847, the entrypoint;
#   3. the image run (buildah run, chroot isolation, as uid 65534, in this
#      host's network namespace): --config.check of the config.yml in the
#      image, then the exporter serving on a free loopback port and
#      answering a probe of its own port with probe_success 1.
#
# Needs root, go, curl and buildah (Debian: buildah); storage is a
# temporary vfs store, removed at the end.
# Prints PASS/FAIL per check and "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."

. .ci/lib.sh
find_python
need go curl buildah

work=$(mktemp -d "${TMPDIR:-/tmp}/image-check.XXXXXX")
buildah=(buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs)
cleanup() {
	stop_pid_file "$work/run.pid"
	"${buildah[@]}" rm --all >/dev/null 2>&1
	"${buildah[@]}" rmi --all --force >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

image=localhost/synack_exporter:image-check

# build builds from a copy of the tree with a static binary of its own in
# .build/linux-amd64/, where the Dockerfile expects promu's: .ci/run builds
# the release binaries in the background meanwhile, into the tree's .build.
build() {
	local ctx=$work/context
	mkdir -p "$ctx/.build/linux-amd64"
	tar --exclude=./.git --exclude=./.build -cf - . | tar -xf - -C "$ctx" || return 1
	CGO_ENABLED=0 go build -tags netgo -o "$ctx/.build/linux-amd64/synack_exporter" . || return 1
	"${buildah[@]}" build --quiet --isolation chroot --from scratch -t "$image" "$ctx"
}

labels() {
	"${buildah[@]}" inspect --type image "$image" >"$work/inspect.json" || return 1
	"$PYTHON" - "$work/inspect.json" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))["OCIv1"]["config"]
labels, bad = cfg.get("Labels") or {}, []
for key in ("title", "description", "source", "url", "documentation", "licenses", "vendor", "authors"):
    if not labels.get("org.opencontainers.image." + key):
        bad.append(f"no org.opencontainers.image.{key} label")
if "Apache License" in open("LICENSE").read(200) and labels.get("org.opencontainers.image.licenses") != "Apache-2.0":
    bad.append("org.opencontainers.image.licenses is not Apache-2.0, the LICENSE file's")
if labels.get("org.opencontainers.image.title") != "synack_exporter":
    bad.append("org.opencontainers.image.title is not synack_exporter")
if cfg.get("User") != "nobody":
    bad.append(f"User is {cfg.get('User')!r}, want nobody")
if "9847/tcp" not in (cfg.get("ExposedPorts") or {}):
    bad.append(f"ExposedPorts {cfg.get('ExposedPorts')} lack 9847/tcp")
if cfg.get("Entrypoint") != ["/bin/synack_exporter"]:
    bad.append(f"Entrypoint is {cfg.get('Entrypoint')}")
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
PY
}

# run CONTAINER ARGS... runs the image's binary with ARGS as uid/gid 65534
# (nobody; the scratch base has no /etc/passwd to look the name up in).
run() {
	local container=$1
	shift
	"${buildah[@]}" run --isolation chroot --user 65534:65534 "$container" -- /bin/synack_exporter "$@"
}

config_check() {
	local container
	container=$("${buildah[@]}" from "$image") || return 1
	run "$container" --config.check --config.file=/etc/synack_exporter/config.yml
}

serve() {
	local container port out
	container=$("${buildah[@]}" from "$image") || return 1
	port=$(free_port)
	# buildah itself in the background, so that the pid stopped at exit is
	# buildah's: stopping it stops the exporter.
	"${buildah[@]}" run --isolation chroot --user 65534:65534 "$container" -- /bin/synack_exporter \
		--config.file=/etc/synack_exporter/config.yml --web.listen-address="127.0.0.1:$port" \
		>"$work/run.log" 2>&1 </dev/null &
	echo $! >"$work/run.pid"
	for _ in $(seq 150); do
		curl -sf "http://127.0.0.1:$port/-/healthy" >/dev/null && break
		sleep 0.2
	done
	out=$(curl -s -m 30 "http://127.0.0.1:$port/probe?target=127.0.0.1:$port") || { cat "$work/run.log"; return 1; }
	grep -qx 'probe_success 1' <<<"$out" || { echo "$out"; cat "$work/run.log"; return 1; }
	echo "the image's exporter probed 127.0.0.1:$port"
}

check "buildah build of the Dockerfile (base: scratch)" build
check "image config: OCI labels, user nobody, port 9847, entrypoint" labels
check "the image's config.yml passes --config.check, as nobody" config_check
check "the image serves and answers a probe" serve

summary image-check
