# Shared by .ci/readme-check.sh, .ci/systemd-check.sh and
# .ci/kubernetes-check.sh: source it, then call check for each step and
# finish with summary NAME.

passed=0
failed=0

# check NAME CMD...: runs CMD; prints PASS, or FAIL with CMD's output.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		passed=$((passed + 1))
		echo "PASS: $name"
	else
		failed=$((failed + 1))
		echo "FAIL: $name"
		sed 's/^/    /' <<<"$out"
	fi
}

# summary NAME prints the counts and returns 1 if anything failed.
summary() {
	echo "$1: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

# find_python sets PYTHON to a python3 that has PyYAML, or exits.
find_python() {
	local py
	PYTHON=
	for py in python3 /usr/bin/python3; do
		if command -v "$py" >/dev/null && "$py" -c 'import yaml' 2>/dev/null; then
			PYTHON=$(command -v "$py")
			return 0
		fi
	done
	echo "${0##*/}: python3 with PyYAML is needed (Debian: python3-yaml)" >&2
	exit 1
}

# need TOOL... exits unless every TOOL is on PATH.
need() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null || { echo "${0##*/}: $tool is needed" >&2; exit 1; }
	done
}

# free_port prints a loopback port that nothing listens on now.
free_port() {
	"$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# stop_pid_file FILE stops the process whose pid FILE holds, SIGKILL after
# 5 s. A background process started inside check's command substitution
# (a subshell) can only hand its pid back through a file; it must be
# stopped, or it keeps the caller's inherited descriptors (a flock, a pipe)
# open after the script ends.
stop_pid_file() {
	local pid
	pid=$(cat "$1" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null
}
