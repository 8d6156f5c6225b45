#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# boot-postgresql-gated: the shipped nodeseal.service and PostgreSQL drop-in on a real systemd boot.
#
#  1. first boot: nodeseal formats, opens and mounts the blank disk, issues PostgreSQL's certificate
#     and reports ready (systemd, D-Bus); a cluster is created with its data directory on the
#     encrypted mount and TLS from nodeseal's files; psql sslmode=verify-full with nodeseal's CA
#     works, a connection without TLS is refused (hostssl only).
#  2. second boot, PostgreSQL enabled: it starts only after nodeseal's READY=1, through the drop-in
#     (ExecStartPre=nodeseal check); same data, same certificate. RenewCertificates() over the
#     system bus, then a certificate near expiry renewed by the daemon's timer: each time the
#     shipped hook reloads PostgreSQL, which serves the new certificate with the same PID.
#  3. third boot with the Secrets missing: nodeseal keeps waiting and says why, PostgreSQL does not
#     start, the disk is not touched; the Secrets appear (a unit in the guest creates them) and
#     nodeseal proceeds and PostgreSQL starts, without a reboot; the short certificate boot 2
#     left, now within check's margin, is renewed before READY=1.
# The Secrets come from the fake API server on the guest's loopback (NSVM_SOURCE=kubernetes, the
# default; started by a unit ordered before nodeseal.service, seeded anew each boot), or from a
# directory on a share (NSVM_SOURCE=directory, by hand: the suite runs the Kubernetes source; the
# directory source is in run-default-main-job, the provision-* scenarios and the daemon tests).
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"

PG_CLUSTER=enc
PG_PORT=5433
NSVM_SOURCE=${NSVM_SOURCE:-kubernetes}
FAKE_PORT=16443
FAKE_DIR=/run/nodeseal-fake-kube

if ! in_guest; then
	vm_require
	[[ -x /lib/systemd/systemd ]] || skip "the host has no systemd to boot"
	command -v pg_createcluster > /dev/null || skip "PostgreSQL is not installed (package postgresql)"
	: "${BUILD_ROOT:?BUILD_ROOT must point at the meson build directory}"
	[[ -n ${NODESEAL:-} && -x $NODESEAL ]] || fail "NODESEAL must name the built nodeseal binary"
	pgver=$(ls /usr/lib/postgresql | sort -n | tail -n1)
	scratch_dir
	make_disk "$SCRATCH/disk.img" 256

	# Where the units expect the binary and the hooks: the build's own configuration.
	opt() { meson introspect "$BUILD_ROOT" --buildoptions | jq -r ".[] | select(.name == \"$1\") | .value"; }
	prefix=$(opt prefix)
	sbin=$prefix/$(opt sbindir)
	hooks=$prefix/$(opt libexecdir)/nodeseal/hooks
	grep -qx "ExecStart=$sbin/nodeseal run" "$BUILD_ROOT/unit-files/nodeseal.service" ||
		fail "nodeseal.service does not start $sbin/nodeseal"

	# The Secrets: a CA from yesterday (so that every node certificate starts at its issue time
	# minus nodeseal's clock skew, never at the CA's notBefore: the renewal timing below relies on
	# it) and a random volume key.
	mkdir -p "$SCRATCH/secrets/nodeseal-ca" "$SCRATCH/secrets/nodeseal-keys-vm-node"
	python3 "$SOURCE_ROOT/tests/integration/make-ca-backdated.py" "$SCRATCH/ca" 1
	cp "$SCRATCH/ca/ca.crt" "$SCRATCH/secrets/nodeseal-ca/tls.crt"
	cp "$SCRATCH/ca/ca.key" "$SCRATCH/secrets/nodeseal-ca/tls.key"
	head -c 64 /dev/urandom > "$SCRATCH/secrets/nodeseal-keys-vm-node/pgdata"
	chmod -R go-rwx "$SCRATCH/secrets"

	if [[ $NSVM_SOURCE == kubernetes ]]; then
		head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$SCRATCH/token"
		head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$SCRATCH/admin-token"
		chmod 0600 "$SCRATCH/token" "$SCRATCH/admin-token"
		source_json='"source": "kubernetes", "kubernetes": { "api_url": "https://127.0.0.1:'$FAKE_PORT'",
		  "ca_file": "'$SCRATCH'/fake/ca.crt", "token_file": "'$SCRATCH'/token", "namespace": "nodeseal" }'
	else
		source_json='"directory": "'$SCRATCH'/secrets"'
	fi
	cat > "$SCRATCH/nodeseal.json" <<-JSON
	{ "node_name": "vm-node",
	  "secrets": { $source_json },
	  "retry": { "initial_sec": 0.5, "max_sec": 3 },
	  "daemon": { "poll_sec": 1 },
	  "volumes": [ { "name": "pgdata", "device": "/dev/disk/by-id/virtio-nsvm-pgdata", "mountpoint": "/srv/pgdata" } ],
	  "certificates": [ { "name": "postgresql", "profile": "postgresql", "directory": "/srv/pgdata/tls",
	                      "dns_names": ["localhost", "{node}"], "ip_addresses": ["127.0.0.1"] } ] }
	JSON

	# The units exactly as built, the drop-in for postgresql@.service, nodeseal enabled.
	units=$SCRATCH/units
	mkdir -p "$units/multi-user.target.wants" "$units/postgresql@.service.d"
	cp "$BUILD_ROOT/unit-files/nodeseal.service" "$units/"
	cp "$BUILD_ROOT/unit-files/nodeseal-dropin.conf" "$units/postgresql@.service.d/nodeseal.conf"
	ln -s ../nodeseal.service "$units/multi-user.target.wants/nodeseal.service"
	if [[ $NSVM_SOURCE == kubernetes ]]; then
		# The API server, up before nodeseal; it keeps its TLS certificates in $SCRATCH/fake across
		# boots but not its Secrets: a boot seeds them (NSVM_SEED=1) or not.
		cat > "$units/nsvm-fake-kube.service" <<-UNIT
			[Unit]
			Description=fake Kubernetes API server (boot-postgresql-gated)
			Before=nodeseal.service
			[Service]
			Type=exec
			ExecStart=/usr/bin/python3 $FAKE_DIR/fake-kube.py --state-dir $SCRATCH/fake --port $FAKE_PORT --bind 127.0.0.1 --namespace nodeseal --token $(cat "$SCRATCH/token") --admin-token $(cat "$SCRATCH/admin-token")
			ExecStartPost=$VM_GUEST_DIR/$(basename "$0") --guest fake-kube-up
			EnvironmentFile=$SCRATCH/fake-kube.env
			Environment=SCRATCH=$SCRATCH PGVER=$pgver
			StandardOutput=journal
		UNIT
		ln -s ../nsvm-fake-kube.service "$units/multi-user.target.wants/nsvm-fake-kube.service"
		echo NSVM_SEED=1 > "$SCRATCH/fake-kube.env"
	fi
	copies=(--copy "$NODESEAL:$sbin/nodeseal"
		--copy "$SCRATCH/nodeseal.json:/etc/nodeseal/nodeseal.json"
		--copy "$SOURCE_ROOT/unit-files/org.nodeseal.Agent1.conf:/etc/dbus-1/system.d/org.nodeseal.Agent1.conf"
		--copy "$SOURCE_ROOT/unit-files/tmpfiles-nodeseal.conf:/etc/tmpfiles.d/nodeseal.conf"
		--copy "$SOURCE_ROOT/hooks/postgresql:$hooks/postgresql"
		--copy "$SOURCE_ROOT/tests/fake-kube:$FAKE_DIR")
	boot() {
		local rc=0
		vm_run_self --systemd --timeout 600 --mem 1024 --unit-dir "$units" \
			--disk "$SCRATCH/disk.img,serial=nsvm-pgdata" --share "$SCRATCH:$SCRATCH" \
			--env "SCRATCH=$SCRATCH" --env "PGVER=$pgver" --env "NSVM_SOURCE=$NSVM_SOURCE" "${copies[@]}" "$@" || rc=$?
		return $rc
	}

	log "boot 1: first boot"
	boot -- first || fail "first boot"
	assert_eq crypto_LUKS "$(blkid -p -o value -s TYPE "$SCRATCH/disk.img")" "the disk after the first boot"
	! LC_ALL=C grep -q -a -F NODESEAL-VM-PLAINTEXT "$SCRATCH/disk.img" || fail "plaintext on the raw disk"

	log "boot 2: PostgreSQL enabled, gated by nodeseal"
	ln -s /lib/systemd/system/postgresql@.service "$units/multi-user.target.wants/postgresql@$pgver-$PG_CLUSTER.service"
	copies+=(--copy "$SCRATCH/pgconf:/etc/postgresql/$pgver/$PG_CLUSTER")
	boot -- second || fail "second boot"

	log "boot 3: the Secrets missing at boot, then appearing"
	# The Secrets, not their directory or the API server, are missing (as when a cluster's Secrets
	# are not created yet).
	if [[ $NSVM_SOURCE == kubernetes ]]; then
		echo NSVM_SEED=0 > "$SCRATCH/fake-kube.env"
	else
		mkdir "$SCRATCH/secrets-away"
		mv "$SCRATCH/secrets/"* "$SCRATCH/secrets-away/"
	fi
	head -c 16M "$SCRATCH/disk.img" | sha256sum | cut -d' ' -f1 > "$SCRATCH/disk-head.sum"
	cat > "$units/nsvm-secrets-arrive.service" <<-UNIT
		[Unit]
		Description=the Secrets arrive late (boot-postgresql-gated)
		[Service]
		Type=oneshot
		RemainAfterExit=yes
		ExecStart=$VM_GUEST_DIR/$(basename "$0") --guest secrets-arrive
		Environment=SCRATCH=$SCRATCH PGVER=$pgver NSVM_SOURCE=$NSVM_SOURCE
		StandardOutput=tty
		StandardError=inherit
		TTYPath=/dev/console
		TimeoutStartSec=300
	UNIT
	ln -s ../nsvm-secrets-arrive.service "$units/multi-user.target.wants/nsvm-secrets-arrive.service"
	boot -- missing || fail "boot with the Secrets missing"
	log "pass"
	exit 0
fi

# --- in the guest ------------------------------------------------------------------------------------
[[ ${1:-} == --guest ]] && shift
pg_unit=postgresql@$PGVER-$PG_CLUSTER.service
map=/dev/mapper/nodeseal-pgdata

# seed: the Secrets into the fake API server, from the same files the directory source reads. The
# bodies go through files, not argv.
seed() {
	local body=$SCRATCH/body.json
	printf '{"metadata":{"name":"nodeseal-ca","namespace":"nodeseal"},"type":"kubernetes.io/tls","data":{"tls.crt":"%s","tls.key":"%s"}}' \
		"$(base64 -w0 < "$SCRATCH/secrets/nodeseal-ca/tls.crt")" "$(base64 -w0 < "$SCRATCH/secrets/nodeseal-ca/tls.key")" > "$body"
	fake_admin POST /fake/secrets "$body"
	printf '{"metadata":{"name":"nodeseal-keys-vm-node","namespace":"nodeseal"},"data":{"pgdata":"%s"}}' \
		"$(base64 -w0 < "$SCRATCH/secrets/nodeseal-keys-vm-node/pgdata")" > "$body"
	fake_admin POST /fake/secrets "$body"
	rm -f "$body"
}
fake_admin() {
	curl -sS -f --cacert "$SCRATCH/fake/control-ca.crt" -H @<(printf 'Authorization: Bearer %s\n' "$(cat "$SCRATCH/admin-token")") \
		-H 'Content-Type: application/json' -X "$1" --data-binary "@$3" "https://127.0.0.1:$FAKE_PORT$2" > /dev/null
}

psql_tls() {
	nodeseal ca > /run/nodeseal-client-ca.crt
	psql "host=localhost port=$PG_PORT user=postgres dbname=postgres sslmode=verify-full sslrootcert=/run/nodeseal-client-ca.crt" \
		-X -A -t -v ON_ERROR_STOP=1 "$@"
}

# What every boot that got ready must show.
assert_ready() {
	assert_eq active "$(systemctl is-active nodeseal.service)" "nodeseal.service"
	assert_eq "b true" "$(busctl --system get-property org.nodeseal.Agent1 /org/nodeseal/Agent1 org.nodeseal.Agent1 Ready)" \
		"Ready on the system bus"
	local json
	json=$(setpriv --reuid=65534 --regid=65534 --clear-groups busctl --system --json=short call org.nodeseal.Agent1 \
		/org/nodeseal/Agent1 org.nodeseal.Agent1 Describe | jq -r '.data[0]')
	assert_eq ready "$(jq -r .state <<< "$json")" "Describe() as nobody over the system bus"
	assert_eq ready "$(jq -r '.volumes[0].state' <<< "$json")" "Describe() volume state"
	assert_eq /srv/pgdata "$(jq -r '.volumes[0].mountpoint' <<< "$json")" "Describe() mountpoint"
	[[ $(systemctl show -P StatusText nodeseal.service) == "Ready: 1 volume(s) and 1 certificate(s) in place"* ]] ||
		fail "STATUS= of nodeseal.service: $(systemctl show -P StatusText nodeseal.service)"
	mounted_from /srv/pgdata "$map" || fail "/srv/pgdata is not mounted from $map"
	nodeseal status | sed 's/^/  | /' >&2
	nodeseal status | grep "From:         D-Bus" >/dev/null || fail "nodeseal status did not come from D-Bus"
	nodeseal check --quiet || fail "nodeseal check"
}

assert_postgresql_tls() {
	assert_eq active "$(systemctl is-active "$pg_unit")" "$pg_unit"
	assert_eq /srv/pgdata/data "$(psql_tls -c 'SHOW data_directory')" "data directory"
	assert_eq t "$(psql_tls -c 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')" "TLS in use"
	assert_eq /srv/pgdata/tls/server.crt "$(psql_tls -c 'SHOW ssl_cert_file')" "ssl_cert_file"
	local out rc=0
	out=$(psql "host=localhost port=$PG_PORT user=postgres dbname=postgres sslmode=disable" -X -c 'SELECT 1' 2>&1) || rc=$?
	((rc != 0)) || fail "a connection without TLS was accepted"
	assert_contains "$out" "no encryption" "the refusal of a connection without TLS"
}

case $1 in
fake-kube-up)
	# ExecStartPost of nsvm-fake-kube.service: listening (it writes "port" last), then seeded.
	wait_for 60 test -s "$SCRATCH/fake/port" || fail "the fake API server did not start"
	[[ ${NSVM_SEED:-1} == 1 ]] && seed
	exit 0
	;;
first)
	assert_ready
	# The volume's root stays root's: the certificate directory in it must have only root's
	# directories above it; PostgreSQL owns its data directory in it.
	assert_eq "root 755" "$(stat -c '%U %a' /srv/pgdata)" "owner and mode of the volume's root"
	pg_createcluster -d /srv/pgdata/data -p "$PG_PORT" "$PGVER" "$PG_CLUSTER" > /dev/null
	conf=/etc/postgresql/$PGVER/$PG_CLUSTER
	pg_conftool "$PGVER" "$PG_CLUSTER" set listen_addresses localhost
	pg_conftool "$PGVER" "$PG_CLUSTER" set ssl on
	pg_conftool "$PGVER" "$PG_CLUSTER" set ssl_cert_file /srv/pgdata/tls/server.crt
	pg_conftool "$PGVER" "$PG_CLUSTER" set ssl_key_file /srv/pgdata/tls/server.key
	pg_conftool "$PGVER" "$PG_CLUSTER" set ssl_ca_file /srv/pgdata/tls/root.crt
	cat > "$conf/pg_hba.conf" <<-HBA
		local     all all              peer
		hostssl   all all 127.0.0.1/32 trust
		hostssl   all all ::1/128      trust
		hostnossl all all 0.0.0.0/0    reject
		hostnossl all all ::/0         reject
	HBA
	systemctl start "$pg_unit"
	[[ $(systemctl show -P DropInPaths "$pg_unit") == *postgresql@.service.d/nodeseal.conf* ]] ||
		fail "the drop-in is not applied: $(systemctl show -P DropInPaths "$pg_unit")"
	[[ $(systemctl show -P Requires "$pg_unit") == *nodeseal.service* ]] || fail "$pg_unit does not require nodeseal.service"
	assert_postgresql_tls
	psql_tls -c "CREATE TABLE marker (t text); INSERT INTO marker VALUES ('NODESEAL-VM-PLAINTEXT first boot')" > /dev/null
	openssl x509 -noout -serial -in /srv/pgdata/tls/server.crt > "$SCRATCH/serial"
	systemctl stop "$pg_unit"
	# The cluster's configuration lives in /etc, which is gone at power-off: keep it for the next boots.
	cp -a "$conf" "$SCRATCH/pgconf"
	;;
second)
	assert_ready
	assert_postgresql_tls
	assert_eq "NODESEAL-VM-PLAINTEXT first boot" "$(psql_tls -c 'SELECT t FROM marker')" "data after a reboot"
	assert_eq "$(cat "$SCRATCH/serial")" "$(openssl x509 -noout -serial -in /srv/pgdata/tls/server.crt)" \
		"certificate after a reboot"
	# PostgreSQL started after nodeseal was ready, with nodeseal check before it.
	ready=$(systemctl show -P ActiveEnterTimestampMonotonic nodeseal.service)
	started=$(systemctl show -P ExecMainStartTimestampMonotonic "$pg_unit")
	((started > ready)) || fail "PostgreSQL started ($started) before nodeseal was ready ($ready)"
	[[ $(systemctl show -P ExecStartPre "$pg_unit") == *"nodeseal check"* ]] || fail "no nodeseal check before PostgreSQL"

	# The shipped postgresql hook: RenewCertificates() issues a new certificate, the hook reloads
	# the cluster, and the server presents the new one; a reload, not a restart.
	pid_before=$(systemctl show -P MainPID "$pg_unit")
	busctl --system call org.nodeseal.Agent1 /org/nodeseal/Agent1 org.nodeseal.Agent1 RenewCertificates
	new=$(openssl x509 -noout -serial -in /srv/pgdata/tls/server.crt)
	[[ $new != "$(cat "$SCRATCH/serial")" ]] || fail "RenewCertificates() did not renew"
	served() { openssl s_client -starttls postgres -connect "localhost:$PG_PORT" < /dev/null 2> /dev/null | openssl x509 -noout -serial 2> /dev/null; }
	serves_new() { [[ $(served) == "$new" ]]; }
	wait_for 30 serves_new || fail "PostgreSQL serves '$(served)', not $new, after the hook"
	journalctl -b -u nodeseal.service --no-pager > "$SCRATCH/journal" 2>&1
	grep -q "reload hook (pid [0-9]*) succeeded" "$SCRATCH/journal" || fail "the postgresql hook did not succeed"
	assert_eq "$pid_before" "$(systemctl show -P MainPID "$pg_unit")" "PostgreSQL's main PID after the hook"
	assert_postgresql_tls

	# A certificate near expiry, renewed by the daemon's own timer: a one-day certificate whose
	# renewal point falls 40 s after it is issued (validity_days 1, renew_fraction computed from
	# the notBefore nodeseal will choose: now - 300 s, not before the CA's), with no jitter. The
	# new configuration comes by systemctl reload (SIGHUP); RenewCertificates() issues the short
	# one; then nothing but time: the timer renews it, the hook reloads PostgreSQL, same PID.
	now=$(date +%s)
	ca_nb=$(date -d "$(openssl x509 -noout -startdate -in "$SCRATCH/ca/ca.crt" | cut -d= -f2)" +%s)
	nb=$((now - 300 > ca_nb ? now - 300 : ca_nb))
	frac=$(awk -v now="$now" -v nb="$nb" 'BEGIN { life = now + 86400 - nb; printf "%.8f", 1 - (now - nb + 40) / life }')
	jq --argjson f "$frac" '.certificates[0].validity_days = 1 | .certificates[0].renew_fraction = $f |
		.daemon.renew_jitter_sec = 1 | .check.expiry_margin_days = 0.0001' /etc/nodeseal/nodeseal.json > /etc/nodeseal/nodeseal.json.new
	mv /etc/nodeseal/nodeseal.json.new /etc/nodeseal/nodeseal.json
	systemctl reload nodeseal.service
	reloaded() { journalctl -b -u nodeseal.service --no-pager | grep "Configuration reloaded" >/dev/null; }
	wait_for 30 reloaded || fail "nodeseal did not reload its configuration"
	busctl --system call org.nodeseal.Agent1 /org/nodeseal/Agent1 org.nodeseal.Agent1 RenewCertificates
	new=$(openssl x509 -noout -serial -in /srv/pgdata/tls/server.crt)
	left=$(($(date -d "$(openssl x509 -noout -enddate -in /srv/pgdata/tls/server.crt | cut -d= -f2)" +%s) - $(date +%s)))
	((left > 86000 && left <= 86400)) || fail "the short certificate expires in $left s, not in a day"
	wait_for 30 serves_new || fail "PostgreSQL serves '$(served)', not the short certificate $new"
	short=$new
	pid_before=$(systemctl show -P MainPID "$pg_unit")
	renewed() { new=$(openssl x509 -noout -serial -in /srv/pgdata/tls/server.crt); [[ $new != "$short" ]]; }
	wait_for 120 renewed || fail "the certificate near expiry was not renewed: $(systemctl show -P StatusText nodeseal.service)"
	# It renews every 40 s from here on: compare with what is on disk now, not with the first renewal.
	current() { openssl x509 -noout -serial -in /srv/pgdata/tls/server.crt; }
	serves_current() { [[ $(served) == "$(current)" ]]; }
	wait_for 30 serves_current || fail "PostgreSQL serves '$(served)', not the renewed $(current); nodeseal's journal:
$(journalctl -b -u nodeseal.service --no-pager | tail -n 30)"
	journalctl -b -u nodeseal.service --no-pager > "$SCRATCH/journal" 2>&1
	grep -q "A certificate reached its renewal point." "$SCRATCH/journal" || fail "not renewed by the renewal timer"
	assert_eq "$pid_before" "$(systemctl show -P MainPID "$pg_unit")" "PostgreSQL's main PID after the renewal"
	openssl verify -CAfile "$SCRATCH/ca/ca.crt" /srv/pgdata/tls/server.crt > /dev/null || fail "the renewed certificate does not verify"
	assert_postgresql_tls
	;;
secrets-arrive)
	# Runs from its own unit during boot 3, while nodeseal waits: record what the gate looks like,
	# then put the Secrets back.
	wait_for 120 bash -c '[[ $(systemctl show -P StatusText nodeseal.service) == Waiting:* ]]' ||
		fail "nodeseal does not say it is waiting: $(systemctl show -P StatusText nodeseal.service)"
	sleep 5
	{
		echo "nodeseal=$(systemctl show -P ActiveState nodeseal.service)"
		echo "status=$(systemctl show -P StatusText nodeseal.service)"
		echo "postgresql=$(systemctl show -P ActiveState "$pg_unit")"
		echo "postgresql-started=$(systemctl show -P ExecMainStartTimestampMonotonic "$pg_unit")"
		echo "mounted=$(mounted_from /srv/pgdata "$map" 2> /dev/null && echo yes || echo no)"
		echo "mapper=$([[ -e $map ]] && echo yes || echo no)"
		echo "disk=$(head -c 16M /dev/disk/by-id/virtio-nsvm-pgdata | sha256sum | cut -d' ' -f1)"
		echo "bus-ready=$(busctl --system get-property org.nodeseal.Agent1 /org/nodeseal/Agent1 org.nodeseal.Agent1 Ready)"
	} > "$SCRATCH/missing-state"
	if [[ $NSVM_SOURCE == kubernetes ]]; then
		seed
	else
		mv "$SCRATCH/secrets-away/"* "$SCRATCH/secrets/"
	fi
	;;
missing)
	cat "$SCRATCH/missing-state" >&2
	state() { sed -n "s/^$1=//p" "$SCRATCH/missing-state"; }
	assert_eq activating "$(state nodeseal)" "nodeseal.service while the Secrets were missing"
	assert_contains "$(state status)" "Secret nodeseal-keys-vm-node not found" "STATUS= while the Secrets were missing"
	if [[ $NSVM_SOURCE == kubernetes ]]; then
		assert_contains "$(state status)" "in namespace nodeseal" "STATUS= names the namespace"
	fi
	[[ $(state postgresql) != active ]] || fail "PostgreSQL was active without the Secrets"
	assert_eq 0 "$(state postgresql-started)" "PostgreSQL's start time while the Secrets were missing"
	assert_eq no "$(state mounted)" "mounted without the Secrets"
	assert_eq no "$(state mapper)" "mapper device without the Secrets"
	assert_eq "$(cat "$SCRATCH/disk-head.sum")" "$(state disk)" "the disk's first 16 MiB while the Secrets were missing"
	assert_eq "b false" "$(state bus-ready)" "Ready on the bus while the Secrets were missing"
	# Then the Secrets came, and everything followed without a reboot.
	assert_ready
	assert_postgresql_tls
	assert_eq "NODESEAL-VM-PLAINTEXT first boot" "$(psql_tls -c 'SELECT t FROM marker')" "data after the late Secrets"
	journalctl -b -u nodeseal.service --no-pager > "$SCRATCH/journal" 2>&1
	grep -q "Secret nodeseal-keys-vm-node not found" "$SCRATCH/journal" || fail "the journal does not say what was missing"
	# Boot 2 left a one-day certificate, within check's default 7-day margin: nodeseal renewed it
	# before READY=1, or the drop-in's "nodeseal check" would have kept PostgreSQL down.
	left=$(($(date -d "$(openssl x509 -noout -enddate -in /srv/pgdata/tls/server.crt | cut -d= -f2)" +%s) - $(date +%s)))
	((left > 7 * 86400)) || fail "the certificate expires in $left s, within the check margin"

	# Stopping nodeseal stops the datastore that requires it, and leaves the volume open and mounted...
	systemctl stop nodeseal.service
	assert_eq inactive "$(systemctl is-active "$pg_unit" || true)" "$pg_unit after nodeseal stopped"
	mounted_from /srv/pgdata "$map" || fail "the volume was unmounted when nodeseal stopped"
	# ...unless "daemon": {"close_on_stop": true}.
	jq '.daemon.close_on_stop = true' /etc/nodeseal/nodeseal.json > /etc/nodeseal/nodeseal.json.new
	mv /etc/nodeseal/nodeseal.json.new /etc/nodeseal/nodeseal.json
	systemctl start nodeseal.service
	assert_eq active "$(systemctl is-active nodeseal.service)" "nodeseal.service started again"
	systemctl stop nodeseal.service
	! mounted_from /srv/pgdata "$map" 2> /dev/null || fail "still mounted after a stop with close_on_stop"
	[[ ! -e $map ]] || fail "$map still open after a stop with close_on_stop"
	assert_eq inactive "$(systemctl is-active nodeseal.service || true)" "nodeseal.service after the stop"
	[[ $(systemctl show -P Result nodeseal.service) == success ]] || fail "nodeseal.service did not stop cleanly"
	;;
*)
	fail "unknown step '$1'"
	;;
esac
log "ok ($1)"
