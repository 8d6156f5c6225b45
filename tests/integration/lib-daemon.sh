# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Helpers for the daemon scenarios, on top of lib.sh and lib-cert.sh: a private dbus-daemon, a
# stand-in for systemd's notification socket, and "nodeseal run" on both.

BUS_DIR=
BUS_ADDRESS=
BUS_PID=
bus_count=0
NOTIFY_LOG=$T/notify.log
DAEMON_LOG=$T/daemon.log
DAEMON_PID=

command -v dbus-daemon >/dev/null || skip "dbus-daemon is not installed (package dbus-daemon)"
command -v busctl >/dev/null || skip "busctl is not installed (package systemd)"

# start_bus [allow-all|shipped-policy]: a private bus of type "system". allow-all lets anyone own
# and call anything (what is refused then is refused by the daemon itself); shipped-policy adds
# nothing to a system-bus-like default but unit-files/org.nodeseal.Agent1.conf.
start_bus() {
        local mode=${1:-allow-all} policy
        # A fresh directory per bus, world-searchable so that a caller running as nobody reaches it.
        bus_count=$((bus_count + 1))
        BUS_DIR=$T/bus$bus_count
        mkdir -p "$BUS_DIR"
        chmod 755 "$T" "$BUS_DIR"
        if [ "$mode" == allow-all ]; then
                policy='<policy context="default"><allow user="*"/><allow own="*"/><allow send_type="method_call"/>
<allow send_destination="*"/><allow receive_sender="*"/><allow eavesdrop="true"/></policy>'
        else
                cp "$SOURCE_ROOT/unit-files/org.nodeseal.Agent1.conf" "$BUS_DIR/"
                # The defaults of Debian's /usr/share/dbus-1/system.conf.
                policy='<policy context="default"><allow user="*"/><deny own="*"/><deny send_type="method_call"/>
<allow send_type="signal"/><allow send_requested_reply="true" send_type="method_return"/>
<allow send_requested_reply="true" send_type="error"/><allow receive_type="method_call"/>
<allow receive_type="method_return"/><allow receive_type="error"/><allow receive_type="signal"/>
<allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
<allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
<allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
<allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>
</policy>
<policy user="root"><allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/></policy>
<includedir>'"$BUS_DIR"'/policy.d</includedir>'
                mkdir -p "$BUS_DIR/policy.d"
                mv "$BUS_DIR/org.nodeseal.Agent1.conf" "$BUS_DIR/policy.d/"
        fi
        cat >"$BUS_DIR/bus.conf" <<XML
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$BUS_DIR/socket</listen>
  <auth>EXTERNAL</auth>
  $policy
</busconfig>
XML
        dbus-daemon --config-file="$BUS_DIR/bus.conf" --nofork --nopidfile --print-address=3 \
                3>"$BUS_DIR/address" 2>"$BUS_DIR/bus.log" &
        BUS_PID=$!
        cleanup_hooks+=("kill $BUS_PID 2>/dev/null")
        wait_for 10 test -s "$BUS_DIR/address" || fail "dbus-daemon did not start: $(cat "$BUS_DIR/bus.log")"
        BUS_ADDRESS=$(head -n1 "$BUS_DIR/address")
}

start_notify() {
        python3 "$SOURCE_ROOT/tests/integration/notify-listener.py" "$T/notify.sock" "$NOTIFY_LOG" &
        cleanup_hooks+=("kill $! 2>/dev/null")
        wait_for 10 grep -qx LISTENING "$NOTIFY_LOG" 2>/dev/null || fail "the notify listener did not start"
}

# start_daemon CONFIG [ENV=VALUE...]: nodeseal run on the private bus, notifying $NOTIFY_LOG.
start_daemon() {
        local config=$1
        shift
        env NOTIFY_SOCKET="$T/notify.sock" "$@" "$NODESEAL" -c "$config" --log-format text ${NODESEAL_LOG_LEVEL:+--log-level $NODESEAL_LOG_LEVEL} run \
                --bus-address "$BUS_ADDRESS" >>"$DAEMON_LOG" 2>&1 &
        DAEMON_PID=$!
        cleanup_hooks+=("kill $DAEMON_PID 2>/dev/null; wait $DAEMON_PID 2>/dev/null")
}

# stop_daemon: SIGTERM, and the exit status in $daemon_rc.
stop_daemon() {
        kill -TERM "$DAEMON_PID"
        set +e
        wait "$DAEMON_PID"
        daemon_rc=$?
        set -e
}

notified() { grep -qxF -- "$1" "$NOTIFY_LOG"; }
ready_notified() { notified READY=1; }

call() { busctl --address="$BUS_ADDRESS" call org.nodeseal.Agent1 /org/nodeseal/Agent1 org.nodeseal.Agent1 "$@"; }
get_property() { busctl --address="$BUS_ADDRESS" get-property org.nodeseal.Agent1 /org/nodeseal/Agent1 org.nodeseal.Agent1 "$1"; }
# describe: the Describe() JSON, unquoted.
describe() { busctl --address="$BUS_ADDRESS" --json=short call org.nodeseal.Agent1 /org/nodeseal/Agent1 \
        org.nodeseal.Agent1 Describe | jq -r '.data[0]'; }

wait_ready() {
        wait_for "${1:-30}" ready_notified || fail "no READY=1; daemon log: $(cat "$DAEMON_LOG"); notify: $(cat "$NOTIFY_LOG")"
}

# write_daemon_config FILE [CERT_FIELDS [TOP_FIELDS]]: write_config with quick retries and polling.
write_daemon_config() {
        local extra='"retry": { "initial_sec": 0.2, "max_sec": 1, "jitter": 0.1 }, "daemon": { "poll_sec": 0.5, "recheck_sec": 2, "renew_jitter_sec": 0.5, "hook_timeout_sec": 5 }'
        write_config "$1" "${2:-}" "${3:+$3, }$extra"
}

# expect_reissued_under CADIR FIRST_SERIAL SECS: within SECS the daemon noticed the changed Secrets
# and $T/certs/tls.crt chains to CADIR's CA, with a serial other than FIRST_SERIAL.
chains_to_ca() { openssl verify -CAfile "$1/ca.crt" "$T/certs/tls.crt" >/dev/null 2>&1; }
expect_reissued_under() {
        wait_for "$3" chains_to_ca "$1" || fail "no certificate under the new CA: $(cat "$DAEMON_LOG")"
        [ "$(serial_of "$T/certs/tls.crt")" != "$2" ] || fail "same serial under a new CA"
        assert_contains "$(cat "$DAEMON_LOG")" "The Secrets changed; provisioning again."
}

# probe_describe SECS: Describe() over and over for SECS seconds; answers within 100 ms (no two slower in
# a row: a single slow one is the shared machine, not the daemon), none unanswered for 1 s.
probe_describe() {
        "${BUS_PROBE:?BUS_PROBE must point at the bus-probe test program}" "$BUS_ADDRESS" "$1" 100 ||
                fail "Describe() answered slowly or not at all; daemon log: $(tail -n 20 "$DAEMON_LOG")"
}

# expect_watchdog SECS: WATCHDOG=1 keeps coming for SECS seconds (start the daemon with WATCHDOG_USEC).
watchdog_count() { grep -cx WATCHDOG=1 "$NOTIFY_LOG" || true; }
expect_watchdog() {
        local i before
        for ((i = 0; i < $1; i++)); do
                before=$(watchdog_count)
                sleep 1
                [ "$(watchdog_count)" -gt "$before" ] || fail "no WATCHDOG=1 for a second ($before so far)"
        done
}

# stop_daemon_within SECS: SIGTERM; the daemon is gone within SECS seconds ($daemon_rc its status).
stop_daemon_within() {
        local t0 t1
        t0=$(date +%s%N)
        kill -TERM "$DAEMON_PID"
        for ((i = 0; i < $1 * 20; i++)); do
                kill -0 "$DAEMON_PID" 2>/dev/null || break
                sleep 0.05
        done
        t1=$(date +%s%N)
        kill -0 "$DAEMON_PID" 2>/dev/null && fail "still running $1 s after SIGTERM: $(tail -n 20 "$DAEMON_LOG")"
        echo "exited $(((t1 - t0) / 1000000)) ms after SIGTERM"
        set +e
        wait "$DAEMON_PID"
        daemon_rc=$?
        set -e
}

# call_async NAME METHOD: calls METHOD in the background (as root, waiting up to 120 s); its output
# goes to $T/NAME.out and its exit status to $T/NAME.rc when it returns.
call_async() {
        rm -f "$T/$1.rc"
        (
                set +e
                busctl --address="$BUS_ADDRESS" --timeout=120 call org.nodeseal.Agent1 /org/nodeseal/Agent1 \
                        org.nodeseal.Agent1 "$2" >"$T/$1.out" 2>&1
                echo $? >"$T/$1.rc"
        ) &
        cleanup_hooks+=("kill $! 2>/dev/null")
}
call_returned() { [ -s "$T/$1.rc" ]; }

# worker_pids: the daemon's children running "provision" (its attempts).
worker_pids() {
        local p
        for p in $(pgrep -P "$DAEMON_PID" || true); do
                grep -qa -- --report-fd "/proc/$p/cmdline" 2>/dev/null && echo "$p"
        done
        true
}
