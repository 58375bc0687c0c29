# Shared shell helpers for quickstart.sh and test.sh. Source it; do not run it.

# as_root runs a command as root (directly, or through sudo).
as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_packages installs the Debian packages whose command is missing.
# Arguments are pairs "command:package".
ensure_packages() {
	local missing=() pair cmd pkg
	for pair in "$@"; do
		cmd=${pair%%:*}
		pkg=${pair#*:}
		if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -e "$cmd" ]; then
			missing+=("$pkg")
		fi
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "muhr: installing ${missing[*]}" >&2
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

# ensure_go puts a Go toolchain on PATH.
ensure_go() {
	if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
		export PATH=/usr/local/go/bin:$PATH
	fi
	if ! command -v go >/dev/null 2>&1; then
		echo "muhr: Go is not installed (want Go 1.26 at /usr/local/go)" >&2
		return 1
	fi
	export GOTOOLCHAIN=local
}

# softhsm_module prints the path of SoftHSM2's PKCS#11 library.
softhsm_module() {
	local p
	for p in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
		/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so /usr/local/lib/softhsm/libsofthsm2.so; do
		if [ -e "$p" ]; then echo "$p"; return 0; fi
	done
	echo "muhr: libsofthsm2.so not found" >&2
	return 1
}

# pg_bindir prints the directory holding initdb and pg_ctl (Debian keeps them
# off PATH, in the versioned PostgreSQL library directory).
pg_bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
	if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
	if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return 0; fi
	echo "muhr: initdb not found" >&2
	return 1
}

# free_port prints a TCP port nobody listens on at 127.0.0.1.
free_port() {
	python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# pg_start DIR PORT starts a throwaway cluster in DIR listening on a Unix
# socket in DIR/sock and on 127.0.0.1:PORT, as the postgres user when root.
pg_start() {
	local dir=$1 port=$2 bin
	bin=$(pg_bindir)
	if [ "$(id -u)" = 0 ]; then
		install -d -o postgres -m 0755 "$dir"
		install -d -o postgres -m 0755 "$dir/sock"
		su postgres -s /bin/sh -c "'$bin/initdb' -D '$dir/data' -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" >"$dir/initdb.log" 2>&1
		su postgres -s /bin/sh -c "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -o \"-k $dir/sock -p $port -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200\" start" >/dev/null
	else
		install -d -m 0755 "$dir" "$dir/sock"
		"$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1
		"$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o "-k $dir/sock -p $port -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
	fi
}

# pg_stop DIR stops the cluster started by pg_start and removes DIR.
pg_stop() {
	local dir=$1 bin
	bin=$(pg_bindir) || return 0
	if [ -d "$dir/data" ]; then
		if [ "$(id -u)" = 0 ]; then
			su postgres -s /bin/sh -c "'$bin/pg_ctl' -D '$dir/data' -m immediate -w stop" >/dev/null 2>&1 || true
		else
			"$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
		fi
	fi
	rm -rf "$dir"
}
