#!/bin/busybox sh
# The router's VPN tunnels, sourced by its init. The kill switch is not here: it is the static ruleset, loaded before
# any interface came up and never changed when a tunnel comes or goes. What is here only makes the tunnels work:
# each VPN network's links look up their own routing table, whose last resort is `unreachable` (a tunnel that is down
# sends its network's packets nowhere, not to the main table); a named endpoint is resolved once and pinned in the
# ruleset's peers set; each tunnel is started, watched and reported on the health channel.
#
# /run/tunnels (from the agent): `tunnel IF PROVIDER TABLE ADDRESSES MTU CHECK`, `endpoint IF HOST PORT PROTO PEER`,
# `via LINK IF`; /run/IF.conf is the provider's file (WireGuard in `wg setconf` form, or OpenVPN's).

# Policy routing for every tunnel, before any VM can send: each table gets the links' routes (VM-to-VM rules still
# work) and an unreachable default under the tunnel's own.
tunnels_routes() {
	while read -r kind a b table _ _ check; do
		case "$kind" in
			tunnel)
				ip route add unreachable default metric 4000 table "$table" || return 1
				awk '$1 == "link" { print $2, $5 }' /run/links | while read -r link address; do
					ip route add "$address/32" dev "$link" table "$table"
				done
				# The router's own request to the check URL leaves through the tunnel, like its network's traffic.
				if [ "$check" != - ]; then
					host=${check#http://}
					host=${host%%/*}
					ip rule add iif lo to "${host%%:*}" table "$table" pref 90 || return 1
				fi
				;;
			via)
				ip rule add iif "$a" table "$(tunnel_field "$b" 4)" pref 100 || return 1
				;;
		esac
	done < /run/tunnels
}

# The tunnels' interface names, one a line.
tunnel_names() {
	awk '$1 == "tunnel" { print $2 }' /run/tunnels
}

# Field N of tunnel IF's line.
tunnel_field() {
	awk -v t="$1" -v n="$2" '$1 == "tunnel" && $2 == t { print $n }' /run/tunnels
}

is_ipv4() {
	echo "$1" | grep -Eq '^[0-9]{1,3}(\.[0-9]{1,3}){3}$'
}

# The uplink's DNS servers: from its lease, or the static ones dnsmasq was given.
uplink_resolvers() {
	{
		awk '/^nameserver/ { print $2 }' /run/upstream.resolv 2>/dev/null
		sed -n 's/^server=//p' /run/dnsmasq.conf
	} | while read -r server; do is_ipv4 "$server" && echo "$server"; done
}

# Resolves a name once, with the ruleset's `resolvers` set open only for as long as that takes.
resolve_once() {
	servers=$(uplink_resolvers)
	[ -n "$servers" ] || return 1
	for server in $servers; do nft add element ip mvos resolvers "{ $server }"; done
	found=
	for server in $servers; do
		found=$(nslookup -type=a "$1" "$server" 2>/dev/null | awk '/^Name:/ { name = 1 } name && /^Address/ { print $NF; exit }')
		is_ipv4 "$found" && break
		found=
	done
	nft flush set ip mvos resolvers
	[ -n "$found" ] && echo "$found"
}

# Pins every endpoint of the tunnels: /run/IF.endpoints gets `ADDRESS PORT PROTO PEER`, the peers set the address. A
# name is resolved until it answers, then never again while the router runs.
pin_endpoints() {
	awk '$1 == "endpoint"' /run/tunnels | while read -r _ tunnel host port proto peer; do
		pinned="/run/$tunnel.pin.$host.$port.$proto"
		if [ ! -s "$pinned" ]; then
			if is_ipv4 "$host"; then
				echo "$host" > "$pinned"
			else
				until address=$(resolve_once "$host"); do sleep 5; done
				echo "$address" > "$pinned"
				report "MVOS-VPN-PINNED $tunnel $host $address"
			fi
		fi
	done
	tunnel_names | while read -r tunnel; do
		: > "/run/$tunnel.endpoints.new"
		awk -v t="$tunnel" '$1 == "endpoint" && $2 == t' /run/tunnels | while read -r _ _ host port proto peer; do
			echo "$(cat "/run/$tunnel.pin.$host.$port.$proto") $port $proto $peer" >> "/run/$tunnel.endpoints.new"
		done
		mv "/run/$tunnel.endpoints.new" "/run/$tunnel.endpoints"
	done
	peers_to_ruleset
}

# The pinned endpoints into the peers set (again after a rule change, which replaces the table with its sets).
peers_to_ruleset() {
	cat /run/vpn*.endpoints 2> /dev/null | while read -r address port proto _; do
		nft add element ip mvos tunnel_peers "{ $address . $proto . $port }"
	done
}

wireguard_up() {
	tunnel=$1
	table=$(tunnel_field "$tunnel" 4)
	ip link add "$tunnel" type wireguard || return 1
	wg setconf "$tunnel" "/run/$tunnel.conf" || return 1
	while read -r address port _ peer; do
		wg set "$tunnel" peer "$peer" endpoint "$address:$port" || return 1
	done < "/run/$tunnel.endpoints"
	for address in $(tunnel_field "$tunnel" 5 | tr , ' '); do ip addr add "$address" dev "$tunnel"; done
	mtu=$(tunnel_field "$tunnel" 6)
	[ "$mtu" = - ] || ip link set "$tunnel" mtu "$mtu"
	# Replies come in on the tunnel from addresses the main table routes to the uplink: loose reverse-path checking.
	echo 2 > "/proc/sys/net/ipv4/conf/$tunnel/rp_filter"
	ip link set "$tunnel" up
	ip route add default dev "$tunnel" table "$table"
}

openvpn_up() {
	tunnel=$1
	table=$(tunnel_field "$tunnel" 4)
	set --
	while read -r address port proto _; do
		[ "$proto" = tcp ] && proto=tcp-client
		set -- "$@" --remote "$address" "$port" "$proto"
	done < "/run/$tunnel.endpoints"
	# The server's routes, gateway redirection, IPv6 and DNS options are not taken: the routing table and the firewall
	# here decide where packets go. The tun device outlives reconnections; up and down record the state.
	openvpn --config "/run/$tunnel.conf" "$@" --dev "$tunnel" --dev-type tun --persist-tun \
		--route-noexec --pull-filter ignore redirect-gateway --pull-filter ignore "route " \
		--pull-filter ignore route-ipv6 --pull-filter ignore ifconfig-ipv6 --pull-filter ignore block-outside-dns \
		--script-security 2 --up "/etc/mvos/tunnel-event up $table" --down "/etc/mvos/tunnel-event down $table" \
		--up-restart --connect-retry 2 10 --log "/run/$tunnel.log" --verb 3 &
	echo $! > "/run/$tunnel.pid"
}

tunnel_up() {
	rm -f "/run/$1.state"
	case "$(tunnel_field "$1" 3)" in
		wireguard) wireguard_up "$1" ;;
		openvpn) openvpn_up "$1" ;;
	esac
}

tunnel_down() {
	case "$(tunnel_field "$1" 3)" in
		wireguard) ip link del "$1" 2> /dev/null ;;
		openvpn)
			kill "$(cat "/run/$1.pid" 2> /dev/null)" 2> /dev/null
			rm -f "/run/$1.pid"
			;;
	esac
	echo "down $(date +%s)" > "/run/$1.state"
}

# Starts every tunnel once its endpoints are pinned, then keeps them: an OpenVPN that exited is started again, and a
# tunnel with a check URL learns its exit address every 30 seconds.
tunnels_run() {
	pin_endpoints
	for tunnel in $(tunnel_names); do
		cat "$cfg/$tunnel.conf/raw" > "/run/$tunnel.conf" 2> /dev/null || {
			report "MVOS-VPN-FAILED $tunnel: no provider file from the agent"
			continue
		}
		tunnel_up "$tunnel" || report "MVOS-VPN-FAILED $tunnel did not start"
	done
	round=0
	while :; do
		sleep 5
		round=$((round + 1))
		for tunnel in $(tunnel_names); do
			[ -e "/run/$tunnel.restart" ] && continue
			if [ "$(tunnel_field "$tunnel" 3)" = openvpn ] && ! kill -0 "$(cat "/run/$tunnel.pid" 2> /dev/null)" 2> /dev/null; then
				tunnel_up "$tunnel"
			fi
			check=$(tunnel_field "$tunnel" 7)
			if [ "$check" != - ] && [ $((round % 6)) = 1 ]; then
				exit=$(wget -q -T 5 -O - "$check" 2> /dev/null | head -c 64 | tr -d '\r\n ')
				is_ipv4 "$exit" && echo "$exit $(date +%s)" > "/run/$tunnel.exit"
			fi
		done
	done
}

# Takes a tunnel down and up again (the agent asks for it); the firewall is not touched.
tunnel_restart() {
	[ -n "$(tunnel_field "$1" 3)" ] || return 1
	: > "/run/$1.restart"
	tunnel_down "$1"
	sleep 1
	tunnel_up "$1"
	rm -f "/run/$1.restart"
}

# One line a tunnel: `MVOS-VPN IF PROVIDER STATE ENDPOINT HANDSHAKE-AGE RX TX EXIT EXIT-AGE` (`-` for unknown; ages in
# seconds). WireGuard is up while its last handshake is under 180 s old (after that it rejects the session's packets).
tunnels_report() {
	now=$(date +%s)
	awk '$1 == "tunnel" { print $2, $3 }' /run/tunnels | while read -r tunnel provider; do
		state=down endpoint=- age=- rx=0 tx=0 exit=- exitage=-
		stats="/sys/class/net/$tunnel/statistics"
		[ -e "$stats" ] && rx=$(cat "$stats/rx_bytes") tx=$(cat "$stats/tx_bytes")
		if [ "$provider" = wireguard ] && [ -e "/sys/class/net/$tunnel" ]; then
			latest=$(wg show "$tunnel" latest-handshakes | awk '{ print $2 }' | sort -n | tail -1)
			endpoint=$(wg show "$tunnel" endpoints | awk '$2 != "(none)" { print $2; exit }')
			state=connecting
			if [ -n "$latest" ] && [ "$latest" != 0 ]; then
				age=$((now - latest))
				[ "$age" -lt 180 ] && state=up
			fi
		elif [ "$provider" = openvpn ] && [ -s "/run/$tunnel.state" ]; then
			read -r what since peer < "/run/$tunnel.state"
			state=connecting
			[ "$what" = up ] && state=up endpoint=${peer:--} age=$((now - since))
		elif [ "$provider" = openvpn ] && [ -e "/run/$tunnel.pid" ]; then
			state=connecting
		fi
		[ -e "/run/$tunnel.restart" ] && state=restarting
		if [ -s "/run/$tunnel.exit" ]; then
			read -r exit at < "/run/$tunnel.exit"
			exitage=$((now - at))
		fi
		echo "MVOS-VPN $tunnel $provider $state ${endpoint:--} $age $rx $tx $exit $exitage"
	done
}
