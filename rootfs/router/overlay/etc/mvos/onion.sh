# The host's onion service in a Tor gateway (sourced by init). The agent hands over the service key (base64, fw_cfg
# onion-key) and the enrolled clients (`NAME PUBLIC-KEY` lines, fw_cfg onion-clients, later MVOS-ONION-CLIENTS); Tor
# publishes the service only while at least one client is enrolled: with no authorized_clients file Tor would publish
# it to everyone.
onion_dir=/var/lib/tor/onion

# Whether the agent's torrc publishes the service.
onion_configured() {
	grep -q '^HiddenServiceDir ' /run/torrc 2> /dev/null
}

# How many clients are enrolled now.
onion_count() {
	ls "$onion_dir/authorized_clients" 2> /dev/null | grep -c '\.auth$'
}

# The torrc Tor runs on: the agent's, without the service while no client is enrolled.
onion_torrc() {
	if onion_configured && [ "$(onion_count)" = 0 ]; then
		grep -v '^HiddenService' /run/torrc > /run/torrc.active
	else
		cp /run/torrc /run/torrc.active
	fi
}

# Writes authorized_clients from `NAME PUBLIC-KEY` lines on stdin (anything else is skipped) and prints `removed` when a
# client that was enrolled is not any more (or has another key), else `kept`.
onion_clients() {
	dir="$onion_dir/authorized_clients"
	rm -rf "$dir.new"
	mkdir -p "$dir.new"
	while read -r name key _; do
		case "$name" in '' | *[!a-z0-9-]*) continue ;; esac
		case "$key" in *[!A-Z2-7]*) continue ;; esac
		[ "${#name}" -le 32 ] && [ "${#key}" = 52 ] || continue
		echo "descriptor:x25519:$key" > "$dir.new/$name.auth"
	done
	verdict=kept
	for file in "$dir"/*.auth; do
		[ -e "$file" ] || continue
		cmp -s "$file" "$dir.new/${file##*/}" || verdict=removed
	done
	chown -R debian-tor:debian-tor "$dir.new" && chmod 700 "$dir.new" || return 1
	rm -rf "$dir" && mv "$dir.new" "$dir" || return 1
	echo "$verdict"
}

# The service's folder before Tor first starts: the key from file $1 (base64), the clients from file $2.
onion_start() {
	mkdir -p "$onion_dir"
	base64 -d "$1" > "$onion_dir/hs_ed25519_secret_key" 2> /dev/null || return 1
	[ "$(wc -c < "$onion_dir/hs_ed25519_secret_key")" = 96 ] || return 1
	# No file: no client yet (QEMU takes no empty fw_cfg file).
	{ cat "$2" 2> /dev/null; } | onion_clients > /dev/null || return 1
	chmod 600 "$onion_dir/hs_ed25519_secret_key"
	chown -R debian-tor:debian-tor "$onion_dir" && chmod 700 "$onion_dir"
}

# A new list of clients from the agent ($1, base64). Added clients need only a reload (Tor publishes a new descriptor);
# a removed one needs a restart: a client that still holds the old descriptor could otherwise go on introducing
# itself, and a restarted Tor has new introduction points. Starting or ending the service (none enrolled ↔ some) is a
# restart too.
onion_change() {
	echo "$1" | base64 -d > /run/onion-clients.next 2> /dev/null || {
		echo "MVOS-ONION-REFUSED the list did not decode"
		return
	}
	before=$(onion_count)
	verdict=$(onion_clients < /run/onion-clients.next) || {
		echo "MVOS-ONION-REFUSED cannot write the clients"
		return
	}
	after=$(onion_count)
	onion_torrc
	if [ "$verdict" = removed ] || { [ "$before" = 0 ] && [ "$after" != 0 ]; }; then
		# Published again only once the restarted Tor's descriptor is accepted.
		rm -f /run/onion-uploaded
		killall tor 2> /dev/null
	else
		killall -HUP tor 2> /dev/null
	fi
	echo "MVOS-ONION-APPLIED $after"
}

# Follows Tor's control port (its HS_DESC events) and keeps in /run/onion-uploaded the address of the last descriptor an
# HSDir accepted; started again whenever Tor is (its control connection ends with it). The fifo holds nc's input open
# without a process of its own.
onion_watch() {
	rm -f /run/onion-ctl
	mkfifo /run/onion-ctl
	while :; do
		sleep 2
		cookie=$(od -An -tx1 /var/lib/tor/control_auth_cookie 2> /dev/null | tr -d ' \n')
		[ -n "$cookie" ] || continue
		nc 127.0.0.1 "$1" < /run/onion-ctl | while read -r _ event action address _; do
			[ "$event $action" = "HS_DESC UPLOADED" ] && echo "$address.onion" > /run/onion-uploaded
		done &
		reader=$!
		exec 4> /run/onion-ctl
		printf 'AUTHENTICATE %s\r\nSETEVENTS HS_DESC\r\n' "$cookie" >&4
		wait "$reader"
		exec 4>&-
	done
}

# `MVOS-ONION ADDRESS CLIENTS UPLOADED`: the address Tor serves (`-` until it wrote one, or while none is enrolled), how
# many clients are enrolled, and whether an HSDir has accepted its descriptor since Tor (re)started (`yes`/`no`).
onion_report() {
	address=-
	grep -q '^HiddenServiceDir ' /run/torrc.active 2> /dev/null && address=$(head -c 62 "$onion_dir/hostname" 2> /dev/null)
	uploaded=no
	[ "$(cat /run/onion-uploaded 2> /dev/null)" = "$address" ] && uploaded=yes
	echo "MVOS-ONION ${address:--} $(onion_count) $uploaded"
}
