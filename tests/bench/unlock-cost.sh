#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Unlock cost per volume: a LUKS2 key slot made the way nodeseal makes it (pbkdf2-sha256 at 1000
# iterations, agent/volume.c set_pbkdf: the keys are random, the PBKDF adds nothing) against
# cryptsetup's default (argon2id, benchmarked to about 2 s and up to 1 GiB). The unlock is
# "cryptsetup open --test-passphrase": the whole key-slot unlock without a device-mapper table, so
# it runs on any kernel. CPU time and peak RSS come from wait4()'s rusage (bench-run).
. "$(dirname "$0")/lib.sh"

command -v cryptsetup >/dev/null || skip "cryptsetup is not installed (package cryptsetup-bin)"

head -c 64 /dev/urandom >"$T/key"
truncate -s 32M "$T/nodeseal.img" "$T/default.img"
cryptsetup luksFormat -q --type luks2 --cipher aes-xts-plain64 --key-size 512 --sector-size 4096 \
        --pbkdf pbkdf2 --hash sha256 --pbkdf-force-iterations 1000 --key-file "$T/key" "$T/nodeseal.img"
cryptsetup luksFormat -q --type luks2 ${BENCH_ARGON2_ITER_MS:+--iter-time "$BENCH_ARGON2_ITER_MS"} \
        --key-file "$T/key" "$T/default.img"
kdf=$(cryptsetup luksDump "$T/default.img" | awk '/PBKDF:/ { p = $2 } /Memory:/ { m = $2 } /Time cost:/ { t = $3 } END { print p ", " m " KiB, time cost " t }')

ours=$("$BENCH_RUN" -n "$BENCH_RUNS" cryptsetup open --test-passphrase --key-file "$T/key" "$T/nodeseal.img")
theirs=$("$BENCH_RUN" -n "$(( BENCH_RUNS < 3 ? BENCH_RUNS : 3 ))" cryptsetup open --test-passphrase --key-file "$T/key" "$T/default.img")
cmd="bench-run -n $BENCH_RUNS cryptsetup open --test-passphrase --key-file KEY IMAGE (IMAGE: luksFormat --pbkdf pbkdf2 --hash sha256 --pbkdf-force-iterations 1000, as set_pbkdf; or luksFormat's defaults${BENCH_ARGON2_ITER_MS:+ with --iter-time $BENCH_ARGON2_ITER_MS})"

oc=$(field "$ours" cpu_s) tc=$(field "$theirs" cpu_s)
om=$(field "$ours" maxrss_kib) tm=$(field "$theirs" maxrss_kib)
# CPU time can read 0 at this resolution; count it as 1 ms so the ratio stays finite.
r=$(calc "($oc > 0.001 ? $oc : 0.001) / $tc")
row "Unlock CPU per volume" "$oc s (pbkdf2, 1000 iterations)" "$tc s (cryptsetup default: $kdf)" "${r}x" \
        "≥100x cheaper (≤0.01x)" "$(verdict "$r" '<=' 0.01)" "$cmd"
r=$(calc "$om / $tm")
row "Unlock peak memory per volume" "$(calc "$om / 1024") MiB" "$(calc "$tm / 1024") MiB" "${r}x" \
        "≥100x less (≤0.01x)" "$(verdict "$r" '<=' 0.01)" "$cmd"
# The program's own memory, without any unlock: the peak RSS of reading the same header.
base=$("$BENCH_RUN" -n 1 cryptsetup luksDump "$T/nodeseal.img")
bm=$(field "$base" maxrss_kib)
od=$(( om > bm ? om - bm : 0 )) td=$(( tm > bm ? tm - bm : 0 ))
r=$(calc "($od > 64 ? $od : 64) / $td")
row "Unlock memory above cryptsetup's own (PBKDF)" "$(calc "$od / 1024") MiB" "$(calc "$td / 1024") MiB" "≤${r}x" \
        "≥100x less (≤0.01x)" "$(verdict "$r" '<=' 0.01)" "$cmd; minus the peak RSS of cryptsetup luksDump IMAGE ($(calc "$bm / 1024") MiB)"
note "Unlock peak memory is the whole cryptsetup process's peak RSS (about 8 MiB of it is the program itself), so the memory ratio cannot go below about 8 MiB / the argon2id cost."
[ -n "$BENCH_ARGON2_ITER_MS" ] && note "argon2id was made cheaper than cryptsetup's default for this run (--iter-time $BENCH_ARGON2_ITER_MS)."
bench_done
