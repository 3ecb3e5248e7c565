# The host's own connections out (sourced by init): one relay a destination of /run/egress (`RELAY-PORT HOST PORT`
# lines from the agent), each a listener as mvos-egress on its port (the ruleset takes connections to it from the egress
# link alone) that joins every connection to its one destination; a relay that exits is started again.
egress_run() {
	while read -r relay host port; do
		(while :; do
			su -s /bin/sh mvos-egress -c "exec nc -ll -p $relay -e /etc/mvos/egress-connect $host $port" 2>> /run/egress.log
			sleep 1
		done) &
	done < /run/egress
}
