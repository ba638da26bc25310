#!/usr/bin/env bash
# Release checks, run from .ci/run or by hand from anywhere in the repo:
#
#   1. build .build/linux-amd64/synack_exporter with the flags and ldflags
#      that .promu.yml declares, rendered as promu renders them, and check
#      that --version and synack_exporter_build_info report those values;
#   2. check the Dockerfile statically against that build: every COPY
#      source exists and is let through .dockerignore, EXPOSE is the
#      default port, ENTRYPOINT and CMD point at what was copied;
#   3. go build ./... for the five platforms issue 5 requires (which
#      .promu.yml must list), or with --all-platforms for every platform
#      .promu.yml lists; go vet ./... for linux.
#
#   bash .ci/release-checks.sh [--all-platforms] [--builds-only]
#
# Each cross build compiles the standard library and every dependency for
# its platform: on a 2-core machine with a cold cache about a minute and
# a half each, which is why only the required ones run by default.
# --builds-only makes the builds of checks 1 and 3 and nothing else: .ci/run
# runs it early, at idle priority, to fill Go's build cache while the tests
# run, and the whole script at the end.
#
# Needs Go, git and bash; nothing is installed and nothing leaves loopback.
# Prints PASS or FAIL per check, then "N passed, M failed"; exits 1 on any
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."

all_platforms=false
builds_only=false
for arg in "$@"; do
	case "$arg" in
	--all-platforms) all_platforms=true ;;
	--builds-only) builds_only=true ;;
	*)
		echo "usage: $0 [--all-platforms] [--builds-only]" >&2
		exit 2
		;;
	esac
done

readonly binary_name=synack_exporter
readonly promu_file=.promu.yml
# The platforms issue 5 requires; .promu.yml may list more.
readonly required_platforms=(linux/amd64 linux/arm64 darwin/amd64 freebsd/amd64 windows/amd64)

passed=0
failed=0
workdir="$(mktemp -d)"
server_pid=""
trap 'rm -rf "$workdir"' EXIT

# check NAME FUNCTION [ARGS...] runs FUNCTION in a subshell with errexit
# (a background job, so that errexit is not suspended as it would be
# inside an "if"), prints PASS or FAIL and, on failure, its output.
check() {
	local name="$1" log="$workdir/check.log" rc=0
	shift
	("$@") >"$log" 2>&1 &
	wait "$!" || rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "PASS $name"
		passed=$((passed + 1))
	else
		echo "FAIL $name"
		sed 's/^/    /' "$log"
		failed=$((failed + 1))
	fi
}

fail() {
	echo "$*" >&2
	exit 1
}

# --- Reading .promu.yml -------------------------------------------------
#
# promu_get PATH prints the value at a dotted key path of .promu.yml: a
# scalar, the lines of a block scalar ("|"), or the items of a list, one
# a line. It understands the subset of YAML that .promu.yml uses (block
# mappings, "|" blocks, lists of scalars, "- name: x" items); version_test.go
# parses the same file with a real YAML parser, in promu's strict schema.
promu_get() {
	awk -v want="$1" '
	function indent(s) { match(s, /^ */); return RLENGTH }
	function path(d,   p, i) { p = key[0]; for (i = 1; i <= d; i++) p = p "." key[i]; return p }
	block >= 0 {
		if ($0 ~ /^[ \t]*$/) { next }
		if (indent($0) > block) { s = $0; sub(/^ +/, "", s); print s; next }
		exit
	}
	{ line = $0; sub(/[ \t]+#.*$/, "", line); sub(/^#.*$/, "", line) }
	line ~ /^[ \t]*$/ { next }
	{
		ind = indent(line); s = substr(line, ind + 1)
		if (s ~ /^- /) {
			if (cur == want) { sub(/^- +/, "", s); sub(/^name: +/, "", s); print s }
			next
		}
		depth = 0
		while (depth in lvl && lvl[depth] < ind) depth++
		for (i in lvl) if (i + 0 >= depth) delete lvl[i]
		lvl[depth] = ind
		k = s; sub(/:.*$/, "", k); key[depth] = k
		v = s; sub(/^[^:]*:[ ]*/, "", v)
		cur = path(depth)
		if (cur == want) {
			if (v == "|") { block = ind; next }
			if (v != "") { gsub(/^["\x27]|["\x27]$/, "", v); print v; exit }
		}
	}
	BEGIN { block = -1 }
	' "$promu_file"
}

# go_layout_to_strftime turns a Go time layout, as in promu's
# {{date "20060102-15:04:05"}}, into a date(1) format.
go_layout_to_strftime() {
	local f="$1"
	f="${f//2006/%Y}"
	f="${f//01/%m}"
	f="${f//02/%d}"
	f="${f//15/%H}"
	f="${f//04/%M}"
	f="${f//05/%S}"
	printf '%s' "$f"
}

# render_ldflags prints build.ldflags with promu's template values filled
# in: {{.Version}} from VERSION, {{.Revision}} and {{.Branch}} from git,
# {{user}} (whoami), {{host}} (hostname), {{date "layout"}} (UTC, or
# SOURCE_DATE_EPOCH), {{repoPath}}. Like promu, it joins the lines with
# spaces and adds -extldflags '-static' (build.static defaults to true).
render_ldflags() {
	local tmpl line out=() layout date
	tmpl="$(promu_get build.ldflags)"
	[ -n "$tmpl" ] || fail "$promu_file: build.ldflags is empty"
	while IFS= read -r line; do
		line="${line//'{{.Version}}'/$VERSION_VALUE}"
		line="${line//'{{.Revision}}'/$REVISION_VALUE}"
		line="${line//'{{.Branch}}'/$BRANCH_VALUE}"
		line="${line//'{{user}}'/$USER_VALUE}"
		line="${line//'{{host}}'/$HOST_VALUE}"
		line="${line//'{{repoPath}}'/$(promu_get repository.path)}"
		while [[ "$line" =~ \{\{date\ \"([^\"]*)\"\}\} ]]; do
			layout="${BASH_REMATCH[1]}"
			date="$(date -u -d "@$BUILD_EPOCH" "+$(go_layout_to_strftime "$layout")")"
			line="${line//"${BASH_REMATCH[0]}"/$date}"
		done
		[[ "$line" != *'{{'* ]] || fail "$promu_file: ldflags template not understood by this script: $line"
		out+=("$line")
	done <<<"$tmpl"
	out+=("-extldflags '-static'")
	printf '%s' "${out[*]}"
}

# --- Check 1: the build and its version information ---------------------

VERSION_VALUE="$(tr -d ' \n\r' <VERSION)"
REVISION_VALUE="$(git rev-parse HEAD)"
BRANCH_VALUE="$(git rev-parse --abbrev-ref HEAD)"
USER_VALUE="$(whoami)"
HOST_VALUE="$(uname -n)"
BUILD_EPOCH="${SOURCE_DATE_EPOCH:-$(date -u +%s)}"
readonly build_dir=".build/linux-amd64"
readonly build_bin="$build_dir/$binary_name"

build_as_promu() {
	local flags ldflags repo
	[ -n "$VERSION_VALUE" ] || fail "VERSION is empty"
	repo="$(promu_get repository.path)"
	[ "$(promu_get build.binaries)" = "$binary_name" ] ||
		fail "$promu_file: build.binaries is '$(promu_get build.binaries)', want $binary_name"
	[ "$(promu_get go.cgo)" = "false" ] || fail "$promu_file: go.cgo must be false (static build)"
	flags="$(promu_get build.flags)"
	ldflags="$(render_ldflags)"
	echo "ldflags: $ldflags"
	mkdir -p "$build_dir"
	# As promu does: go build -o OUT -ldflags LDFLAGS FLAGS... REPO_PATH.
	# shellcheck disable=SC2086 # flags is a word list, as promu splits it
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 \
		go build -o "$build_bin" -ldflags "$ldflags" $flags "$repo"
}

want_line() { # want_line TEXT PATTERN: TEXT has a line matching the ERE
	grep -Eq -- "$2" <<<"$1" || fail "no line matching: $2"$'\n'"in:"$'\n'"$1"
}

ere_quote() { sed 's/[][\.*^$+?(){}|/]/\\&/g' <<<"$1"; }

check_version_output() {
	local out date_re
	out="$("$build_bin" --version 2>&1)"
	echo "$out"
	date_re="$(ere_quote "$(date -u -d "@$BUILD_EPOCH" +%Y%m%d)")-[0-9]{2}:[0-9]{2}:[0-9]{2}"
	want_line "$out" "^$binary_name, version $(ere_quote "$VERSION_VALUE") \(branch: $(ere_quote "$BRANCH_VALUE"), revision: $(ere_quote "$REVISION_VALUE")\)$"
	want_line "$out" "^ +build user: +$(ere_quote "$USER_VALUE@$HOST_VALUE")$"
	want_line "$out" "^ +build date: +$date_re$"
	want_line "$out" "^ +platform: +linux/amd64$"
	want_line "$out" "^ +tags: +netgo$"
}

# http_get PORT PATH prints the response body (curl when present, else
# bash's /dev/tcp, so that only bash is needed).
http_get() {
	if command -v curl >/dev/null; then
		curl -fsS --max-time 5 "http://127.0.0.1:$1$2"
		return
	fi
	local response
	exec 3<>"/dev/tcp/127.0.0.1/$1"
	printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
	response="$(cat <&3)"
	exec 3<&-
	[[ "$response" == "HTTP/1."?" 200"* ]] || fail "GET $2: ${response%%$'\r'*}"
	printf '%s\n' "${response#*$'\r\n\r\n'}"
}

# start_exporter starts the built binary on a free loopback port, setting
# port and server_pid. A port taken meanwhile makes the process exit; then
# it tries another.
start_exporter() {
	local try i
	for try in 1 2 3 4 5 6 7 8 9 10; do
		port=$((20000 + RANDOM % 12000)) # below the ephemeral range
		"$build_bin" --web.listen-address="127.0.0.1:$port" \
			--config.file=config.yml >"$workdir/exporter.log" 2>&1 &
		server_pid=$!
		# Wait for our process to say it listens, so that another program
		# that happens to hold the port is never mistaken for it.
		for i in $(seq 50); do
			kill -0 "$server_pid" 2>/dev/null || break
			if grep -q "msg=\"Listening on\" address=127.0.0.1:$port\$" "$workdir/exporter.log"; then
				http_get "$port" /-/healthy >/dev/null && return
			fi
			sleep 0.1
		done
		stop_exporter
		echo "try $try: port $port did not come up:"
		cat "$workdir/exporter.log"
	done
	fail "the exporter did not start"
}

stop_exporter() {
	[ -n "$server_pid" ] || return 0
	kill "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
}

check_build_info() {
	local port metrics line label
	trap stop_exporter EXIT
	start_exporter
	metrics="$(http_get "$port" /metrics)"
	line="$(grep -E "^${binary_name}_build_info\{" <<<"$metrics")" ||
		fail "no ${binary_name}_build_info on /metrics"
	echo "$line"
	for label in "version=\"$VERSION_VALUE\"" "revision=\"$REVISION_VALUE\"" \
		"branch=\"$BRANCH_VALUE\"" 'goos="linux"' 'goarch="amd64"' 'tags="netgo"'; do
		[[ "$line" == *"$label"* ]] || fail "build_info lacks $label"
	done
	[[ "$line" == *"} 1" ]] || fail "build_info is not 1"
}

check_config_valid() {
	"$build_bin" --config.file=config.yml --config.check
}

# --- Check 2: the Dockerfile, statically --------------------------------

# dockerfile_arg NAME prints the default of ARG NAME.
dockerfile_arg() {
	sed -nE "s/^ARG $1=\"?([^\"]*)\"?$/\1/p" Dockerfile | head -n1
}

# dockerfile_expand TEXT substitutes ${OS} and ${ARCH} with their defaults.
dockerfile_expand() {
	local s="$1"
	s="${s//'${OS}'/$(dockerfile_arg OS)}"
	s="${s//'${ARCH}'/$(dockerfile_arg ARCH)}"
	printf '%s' "$s"
}

# json_array_items prints the items of a one-line exec-form array.
json_array_items() {
	sed -E 's/^[A-Z]+ *\[ *//; s/ *\] *$//' <<<"$1" | tr ',' '\n' | sed -E 's/^ *"//; s/" *$//'
}

check_dockerfile_copies() {
	local line src dst copies=0 pat allowed
	[ "$(dockerfile_arg OS)/$(dockerfile_arg ARCH)" = linux/amd64 ] ||
		fail "Dockerfile ARG defaults are not OS=linux ARCH=amd64"
	while read -r line; do
		read -r _ src dst <<<"$line"
		src="$(dockerfile_expand "$src")"
		[ -f "$src" ] || fail "COPY source $src does not exist"
		if [ -f .dockerignore ] && grep -qx '\*' .dockerignore; then
			allowed=no
			while read -r pat; do
				# shellcheck disable=SC2053 # pat is a glob on purpose
				[[ "$src" == ${pat#!} ]] && allowed=yes
			done < <(grep '^!' .dockerignore)
			[ "$allowed" = yes ] || fail "COPY source $src is excluded by .dockerignore"
		fi
		echo "COPY $src -> $dst"
		copies=$((copies + 1))
		COPIED+=("$dst")
	done < <(grep -E '^COPY ' Dockerfile)
	[ "$copies" -gt 0 ] || fail "Dockerfile has no COPY"

	local entry cmd
	entry="$(json_array_items "$(grep -E '^ENTRYPOINT ' Dockerfile)" | head -n1)"
	[[ " ${COPIED[*]} " == *" $entry "* ]] || fail "ENTRYPOINT $entry is not a copied file"
	cmd="$(json_array_items "$(grep -E '^CMD ' Dockerfile)" | sed -n 's/^--config.file=//p')"
	[ -n "$cmd" ] || fail "CMD does not pass --config.file"
	[[ " ${COPIED[*]} " == *" $cmd "* ]] || fail "CMD's --config.file=$cmd is not a copied file"
	local user
	user="$(sed -nE 's/^USER +//p' Dockerfile | tail -n1)"
	case "$user" in
	"" | root | 0 | 0:*) fail "the image runs as root (USER '$user')" ;;
	esac
}
COPIED=()

check_dockerfile_port() {
	local main_port help_port exposed
	main_port="$(sed -nE 's/.*kingpinflag\.AddFlags\([^,]+, *"[^"]*:([0-9]+)"\).*/\1/p' main.go)"
	[ -n "$main_port" ] || fail "no default port found in main.go's kingpinflag.AddFlags"
	help_port="$("$build_bin" --help 2>&1 | sed -nE 's/.*--web\.listen-address=[^ ]*:([0-9]+).*/\1/p' | head -n1)"
	exposed="$(sed -nE 's/^EXPOSE +([0-9]+).*/\1/p' Dockerfile)"
	echo "main.go :$main_port, --help :$help_port, EXPOSE $exposed"
	[ "$help_port" = "$main_port" ] || fail "--help shows port $help_port, main.go $main_port"
	[ "$exposed" = "$main_port" ] || fail "EXPOSE $exposed, but the default port is $main_port"
	grep -q -- ":$main_port" README.md || fail "README.md never mentions the default port :$main_port"
}

check_tarball_files() {
	local f
	while read -r f; do
		[ -f "$f" ] || fail "tarball file $f does not exist"
	done < <(promu_get tarball.files)
	for f in LICENSE NOTICE; do
		if [ -f "$f" ]; then
			promu_get tarball.files | grep -qx "$f" || fail "$f exists but is not in tarball.files"
		fi
	done
}

# --- Check 3: every platform builds; vet --------------------------------

check_required_platforms() {
	local p listed
	listed="$(promu_get crossbuild.platforms)"
	for p in "${required_platforms[@]}"; do
		grep -qx "$p" <<<"$listed" || fail "$promu_file crossbuild.platforms lacks $p"
	done
}

cross_build() {
	CGO_ENABLED=0 GOOS="${1%/*}" GOARCH="${1#*/}" go build ./...
}

# --- Run ----------------------------------------------------------------

check "build $build_bin with $promu_file's flags and ldflags" build_as_promu
if "$builds_only"; then
	: # no checks of the built binary
elif [ -x "$build_bin" ]; then
	check "--version reports VERSION, revision, branch, build user and date" check_version_output
	check "${binary_name}_build_info on /metrics reports version, revision, branch" check_build_info
	check "config.yml (the image's config) passes --config.check" check_config_valid
	check "Dockerfile: COPY sources exist, ENTRYPOINT/CMD use them, not root" check_dockerfile_copies
	check "Dockerfile: EXPOSE is the default listen port (main.go, --help, README)" check_dockerfile_port
else
	echo "FAIL the checks of the built binary and the Dockerfile (no binary)"
	failed=$((failed + 1))
fi
if ! "$builds_only"; then
	check "$promu_file: tarball files exist" check_tarball_files
	check "$promu_file: crossbuild lists ${required_platforms[*]}" check_required_platforms
fi
if "$all_platforms"; then
	mapfile -t platforms < <(promu_get crossbuild.platforms)
else
	platforms=("${required_platforms[@]}")
fi
for platform in "${platforms[@]}"; do
	check "go build ./... for $platform" cross_build "$platform"
done
"$builds_only" || check "go vet ./... for linux" env GOOS=linux go vet ./...

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
