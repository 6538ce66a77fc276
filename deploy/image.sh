#!/usr/bin/env bash
# deploy/image.sh: deploy/Dockerfile's build and run steps, done natively, then checked the
# way an orchestrator would check the container. There is no Docker engine on our machines
# and CI, so this is how what the image does gets tested (tests/deploy/image.rs runs it).
#
# Everything image-specific is READ FROM THE DOCKERFILE, never restated here: the builder's
# `cargo build` command, the runtime stage's COPY/WORKDIR/ENV/USER/EXPOSE/STOPSIGNAL/
# HEALTHCHECK/ENTRYPOINT/CMD. An instruction in the runtime stage that this script cannot
# reproduce stops it with an error, so the image and this test cannot drift apart silently.
#
# Steps:
#   1. build: the builder stage's `cargo build ...` in the repository (skipped when
#      COMPACT_ASR_BIN names an already-built binary, as CI does);
#   2. stage: lay out the runtime stage's files under a temporary root (COPY sources filtered
#      by /.dockerignore, like the build context);
#   3. run: start ENTRYPOINT + CMD from WORKDIR with exactly the image's ENV (absolute paths
#      re-rooted), as USER's uid:gid, in a private network namespace so the image's own
#      ports (EXPOSE) are used without clashing with anything on the host; the server's
#      settings (ports, model) are the image's ENV, else the binary's `config --print-default`;
#   4. check: the HEALTHCHECK command fails before the server is up and passes within
#      start-period + retries x interval; each tests/data/*.wav sent with
#      `compact-asr transcribe --server` comes back with the same transcript as in-process
#      recognition with the image's model; /metrics answers and counts that audio (unless
#      the image turns metrics off); STOPSIGNAL during a live stream turns the HEALTHCHECK
#      to NOT_SERVING, the stream still gets its final result, and the server exits 0 within
#      Docker's default stop timeout (10 s).
#
# Usage: deploy/image.sh [test|stage DIR|describe]      (default: test)
#   stage DIR: build and lay out the runtime stage under DIR only;
#   describe:  print what the runtime stage declares (user, workdir, ports, ...) and exit.
# Environment:
#   COMPACT_ASR_BIN=PATH   use this binary instead of building (e.g. target/debug/compact-asr)
#   IMAGE_KEEP=1           keep the staged root and logs (their folder is printed)
#   IMAGE_HOST_NETWORK=1   use the host network even when a namespace could be made
#   IMAGE_DOCKERFILE, IMAGE_DOCKERIGNORE   read these instead (the tests feed it broken ones)
# Needs: bash, python3 (reads the JSON-form instructions), iproute2 (ip, ss), util-linux
# (unshare, setpriv; root for both, otherwise it warns and runs as the current user on the
# host network, where ports 50051 and 9090 must be free).
set -euo pipefail
umask 022

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOCKERFILE=${IMAGE_DOCKERFILE:-$REPO/deploy/Dockerfile}
DOCKERIGNORE=${IMAGE_DOCKERIGNORE:-$REPO/.dockerignore}
DOCKER_STOP_TIMEOUT_S=10

log() { printf 'image.sh: %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---- a private network namespace, so the image's fixed ports never clash --------------------
if [[ ${IMAGE_SH_NETNS:-} != inside && ${IMAGE_HOST_NETWORK:-0} != 1 ]]; then
    if [[ $EUID -eq 0 ]] && unshare --net true 2>/dev/null; then
        exec unshare --net env IMAGE_SH_NETNS=inside bash "${BASH_SOURCE[0]}" "$@"
    fi
    log "warning: cannot make a network namespace (needs root and unshare): using the host network"
fi
if [[ ${IMAGE_SH_NETNS:-} == inside ]]; then
    ip link set lo up
fi

# ---- reading the Dockerfile -------------------------------------------------------------------

# Prints the Dockerfile's instructions one per line: comments dropped, continuations joined.
logical_lines() {
    local line joined=""
    while IFS= read -r line || [[ -n $line ]]; do
        [[ $line =~ ^[[:space:]]*# ]] && continue
        if [[ $line =~ \\[[:space:]]*$ ]]; then
            joined+="${line%\\*} "
            continue
        fi
        joined+="$line"
        [[ $joined =~ [^[:space:]] ]] && printf '%s\n' "$joined"
        joined=""
    done <"$DOCKERFILE"
    [[ -z $joined ]] || die "the Dockerfile ends inside a continued line"
}

# Prints the words of a JSON array of strings (exec form), one per line.
json_words() {
    python3 -c 'import json, sys
words = json.loads(sys.argv[1])
assert isinstance(words, list) and words, "not a list"
assert all(isinstance(w, str) and "\n" not in w for w in words), "not one-line strings"
print("\n".join(words))' "$1" 2>/dev/null ||
        die "expected a JSON array of strings (exec form), got: $1"
}

# Sets the array named $1 to the words of the JSON array $2.
set_words() {
    local text
    text=$(json_words "$2")
    mapfile -t "$1" <<<"$text"
}

# A Docker duration (10s, 500ms, 1m30s) in milliseconds.
duration_ms() {
    local rest=$1 total=0 n unit
    while [[ $rest =~ ^([0-9]+)(ms|s|m|h)(.*)$ ]]; do
        n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]} rest=${BASH_REMATCH[3]}
        case $unit in
            ms) total=$((total + n)) ;;
            s) total=$((total + n * 1000)) ;;
            m) total=$((total + n * 60000)) ;;
            h) total=$((total + n * 3600000)) ;;
        esac
    done
    [[ -z $rest && $1 != "" ]] || die "cannot read duration $1"
    echo "$total"
}

BUILD_CMD="" BUILDER_NAME="" WORKDIR_IMG=/ USER_UID="" USER_GID="" STOP_SIGNAL=SIGTERM
RUN_USERADD=""
ENV_NAMES=() ENV_VALUES=() COPIES=() EXPOSED=() HC_CMD=() ENTRYPOINT=() CMD=()
HC_INTERVAL_MS=30000 HC_TIMEOUT_MS=30000 HC_START_MS=0 HC_RETRIES=3

parse_dockerfile() {
    local lines=() text line instr rest stage=-1 stages=0
    local cargo_re='(cargo[[:space:]]+build[^&;|]*)'
    local healthcheck_re='^(.*)CMD[[:space:]]+(\[.*\])[[:space:]]*$'
    text=$(logical_lines)
    mapfile -t lines <<<"$text"
    for line in "${lines[@]}"; do
        [[ ${line^^} =~ ^[[:space:]]*FROM[[:space:]] ]] && stages=$((stages + 1))
    done
    ((stages >= 2)) || die "expected a builder stage and a runtime stage"
    for line in "${lines[@]}"; do
        read -r instr rest <<<"$line"
        instr=${instr^^}
        if [[ $instr == FROM ]]; then
            stage=$((stage + 1))
            if ((stage < stages - 1)) && [[ $rest =~ [[:space:]][Aa][Ss][[:space:]]+([^[:space:]]+) ]]; then
                BUILDER_NAME=${BASH_REMATCH[1]}
            fi
            continue
        fi
        if ((stage < stages - 1)); then
            # Builder stages: only their cargo build command matters here.
            if [[ $instr == RUN && $rest =~ $cargo_re ]]; then
                BUILD_CMD=${BASH_REMATCH[1]}
                BUILD_CMD=${BUILD_CMD%"${BUILD_CMD##*[![:space:]]}"}
            fi
            continue
        fi
        case $instr in
            WORKDIR) WORKDIR_IMG=$rest ;;
            ENV)
                [[ $rest != *[\"\']* ]] || die "ENV with quotes is not reproduced: $line"
                local pair
                for pair in $rest; do
                    [[ $pair == *=* ]] || die "ENV must use KEY=VALUE pairs: $line"
                    ENV_NAMES+=("${pair%%=*}")
                    ENV_VALUES+=("${pair#*=}")
                done
                ;;
            COPY) COPIES+=("$rest") ;;
            USER)
                [[ $rest =~ ^([0-9]+):([0-9]+)$ ]] ||
                    die "USER must be a numeric uid:gid (Kubernetes runAsNonRoot needs it): $line"
                USER_UID=${BASH_REMATCH[1]} USER_GID=${BASH_REMATCH[2]}
                ;;
            EXPOSE)
                local port
                for port in $rest; do EXPOSED+=("${port%/tcp}"); done
                ;;
            STOPSIGNAL) STOP_SIGNAL=$rest ;;
            HEALTHCHECK)
                [[ $rest =~ $healthcheck_re ]] ||
                    die "HEALTHCHECK must be 'HEALTHCHECK [OPTIONS] CMD [\"exec\", \"form\"]': $line"
                local opt
                for opt in ${BASH_REMATCH[1]}; do
                    case $opt in
                        --interval=*) HC_INTERVAL_MS=$(duration_ms "${opt#*=}") ;;
                        --timeout=*) HC_TIMEOUT_MS=$(duration_ms "${opt#*=}") ;;
                        --start-period=*) HC_START_MS=$(duration_ms "${opt#*=}") ;;
                        --retries=*) HC_RETRIES=${opt#*=} ;;
                        *) die "unknown HEALTHCHECK option $opt" ;;
                    esac
                done
                set_words HC_CMD "${BASH_REMATCH[2]}"
                ;;
            ENTRYPOINT) set_words ENTRYPOINT "$rest" ;;
            CMD) set_words CMD "$rest" ;;
            LABEL) ;;
            RUN)
                # Only the creation of USER's account, which running as its uid:gid stands for.
                local part
                while IFS= read -r part; do
                    [[ $part =~ ^[[:space:]]*(groupadd|useradd)[[:space:]] ]] ||
                        die "runtime RUN not reproduced by image.sh: $part"
                done <<<"${rest//&&/$'\n'}"
                RUN_USERADD=$rest
                ;;
            *) die "runtime instruction $instr is not reproduced by image.sh: $line" ;;
        esac
    done
    [[ -n $BUILD_CMD ]] || die "no 'cargo build' in the builder stage"
    [[ -n $USER_UID ]] || die "the runtime stage has no USER (it must not run as root)"
    ((USER_UID != 0)) || die "USER is root"
    local uid_re="--uid[[:space:]=]$USER_UID([[:space:]]|\$)"
    [[ $RUN_USERADD =~ $uid_re ]] ||
        die "the account created in the runtime stage does not have USER's uid $USER_UID"
    ((${#HC_CMD[@]} > 0)) || die "no HEALTHCHECK"
    ((${#ENTRYPOINT[@]} + ${#CMD[@]} > 0)) || die "no ENTRYPOINT or CMD"
    [[ -z $(image_env COMPACT_ASR_CONFIG) ]] || die "a configuration file set in the image is not reproduced by image.sh"
}

# The value of the image's ENV variable $1 (empty if unset).
image_env() {
    local i
    for i in "${!ENV_NAMES[@]}"; do
        [[ ${ENV_NAMES[$i]} == "$1" ]] && { echo "${ENV_VALUES[$i]}"; return; }
    done
    echo ""
}

port_of() { echo "${1##*:}"; }

# The effective value of `serve` setting $1 in the container: the image's COMPACT_ASR_<KEY>
# when the Dockerfile sets one, else the binary's default from `config --print-default`
# (read once into DEFAULTS by run_test).
DEFAULTS=""
setting() {
    local value
    value=$(image_env "COMPACT_ASR_${1^^}")
    if [[ -z $value ]]; then
        value=$(sed -n "s/^$1 = //p" <<<"$DEFAULTS")
        [[ -n $value ]] || die "'compact-asr config --print-default' has no $1"
        value=${value#\"}
        value=${value%\"}
    fi
    echo "$value"
}

# ---- the build context ----------------------------------------------------------------------

# Whether /.dockerignore keeps the repository path $1 out of the build context (Docker's rule:
# the last pattern matching the path or one of its parents decides; '!' re-includes).
ignored() {
    local path=$1 pattern negate result=1 prefix
    while IFS= read -r pattern || [[ -n $pattern ]]; do
        pattern=$(sed 's/^[[:space:]]*//; s/[[:space:]]*$//' <<<"$pattern")
        [[ -z $pattern || $pattern == \#* ]] && continue
        negate=0
        [[ $pattern == !* ]] && { negate=1; pattern=${pattern#!}; }
        pattern=${pattern#/}
        pattern=${pattern%/}
        prefix=$path
        while :; do
            # shellcheck disable=SC2053 # the pattern is a glob on purpose
            if [[ $prefix == $pattern || $prefix == ${pattern#\*\*/} ]]; then
                result=$negate
                break
            fi
            [[ $prefix == */* ]] || break
            prefix=${prefix%/*}
        done
    done <"$DOCKERIGNORE"
    return "$result"
}

# ---- build and stage --------------------------------------------------------------------------

BIN=""
build() {
    if [[ -n ${COMPACT_ASR_BIN:-} ]]; then
        BIN=$(realpath "$COMPACT_ASR_BIN")
        [[ -x $BIN ]] || die "COMPACT_ASR_BIN=$COMPACT_ASR_BIN is not an executable"
        log "using the binary $BIN (the builder stage would run: $BUILD_CMD)"
        return
    fi
    log "builder stage: $BUILD_CMD"
    (cd "$REPO" && $BUILD_CMD) || die "the build failed"
    BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/compact-asr
}

# Puts $1 (a file) at $2, as COPY would (hard link when possible: the debug binary is large).
place() {
    mkdir -p "$(dirname "$2")"
    ln -f "$1" "$2" 2>/dev/null || cp -f "$1" "$2"
}

stage() {
    local root=$1 spec words n dest sources from src file rel target
    mkdir -p "$root$WORKDIR_IMG"
    for spec in "${COPIES[@]}"; do
        read -ra words <<<"$spec"
        from=""
        while [[ ${words[0]} == --* ]]; do
            case ${words[0]} in
                --from=*) from=${words[0]#--from=} ;;
                *) die "COPY option ${words[0]} is not reproduced by image.sh" ;;
            esac
            words=("${words[@]:1}")
        done
        n=${#words[@]}
        ((n >= 2)) || die "COPY needs a source and a destination: COPY $spec"
        dest=${words[n - 1]}
        sources=("${words[@]:0:n-1}")
        [[ $dest == /* ]] || dest=${WORKDIR_IMG%/}/$dest
        if [[ -n $from ]]; then
            [[ $from == "$BUILDER_NAME" && ${#sources[@]} -eq 1 && $(basename "${sources[0]}") == compact-asr ]] ||
                die "only the builder's compact-asr binary may come from another stage: COPY $spec"
            [[ $dest == */ ]] && dest+=compact-asr
            place "$BIN" "$root$dest"
            continue
        fi
        for src in "${sources[@]}"; do
            [[ -e $REPO/$src ]] || die "COPY source $src does not exist"
            ignored "$src" && die "COPY source $src is excluded by .dockerignore"
            if [[ -d $REPO/$src ]]; then
                # A directory's contents go into dest, less what .dockerignore excludes.
                while IFS= read -r -d '' file; do
                    rel=${file#"$REPO/$src/"}
                    ignored "$src/$rel" && continue
                    place "$file" "$root${dest%/}/$rel"
                done < <(find "$REPO/$src" -type f -print0)
            else
                target=$root$dest
                [[ $dest == */ || ${#sources[@]} -gt 1 ]] && target=$root${dest%/}/$(basename "$src")
                place "$REPO/$src" "$target"
            fi
        done
    done
    find "$root" -type d -exec chmod 0755 {} +
}

# ---- running the "container" ------------------------------------------------------------------

ROOT="" CONTAINER_ENV=() AS_USER=()
prepare_container() {
    ROOT=$1
    local i value dir dirs rooted=""
    local path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    # The image's directories first, then the host's for the base image's tools.
    IFS=: read -ra dirs <<<"$path"
    for dir in "${dirs[@]}"; do rooted+=$ROOT$dir:; done
    CONTAINER_ENV=("PATH=$rooted$path" HOME=/nonexistent)
    for i in "${!ENV_NAMES[@]}"; do
        value=${ENV_VALUES[$i]}
        [[ $value == /* ]] && value=$ROOT$value
        CONTAINER_ENV+=("${ENV_NAMES[$i]}=$value")
    done
    if [[ $EUID -eq 0 ]]; then
        AS_USER=(setpriv --reuid="$USER_UID" --regid="$USER_GID" --clear-groups)
    else
        log "warning: not root, so running as $(id -u):$(id -g) instead of USER $USER_UID:$USER_GID"
    fi
}

# Becomes a command run as the container would: in WORKDIR, as USER, with only the image's
# ENV. It replaces the calling process: run it in the background or through in_container.
container_exec() {
    cd "$ROOT$WORKDIR_IMG" && exec "${AS_USER[@]}" env -i "${CONTAINER_ENV[@]}" "$@"
}

in_container() { (container_exec "$@"); }

healthcheck() {
    in_container timeout "$((HC_TIMEOUT_MS / 1000 + 1))" "${HC_CMD[@]}"
}

SERVER_PID="" CLIENT_PID="" WORK=""
cleanup() {
    local pid
    for pid in "$SERVER_PID" "$CLIENT_PID"; do
        [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    done
    if [[ -n $WORK ]]; then
        if [[ ${IMAGE_KEEP:-0} == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
    fi
}

# Waits up to $2 seconds for process $1 to end; returns its exit status (124 if it did not end).
wait_for_exit() {
    local pid=$1 deadline=$((SECONDS + $2))
    while kill -0 "$pid" 2>/dev/null; do
        ((SECONDS < deadline)) || return 124
        sleep 0.1
    done
    wait "$pid"
}

server_log() { log "server log:"; sed 's/^/    /' "$WORK/server.log" >&2 || true; }

# GET http://127.0.0.1:$1$2 with bash's /dev/tcp (curl is not on every machine); prints the
# body of a 200 answer.
http_get() (
    local response
    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$2" >&3
    response=$(timeout 5 cat <&3) || true
    exec 3<&-
    [[ $response == "HTTP/1."?" 200"* ]] || { log "GET $2: ${response%%$'\r'*}"; return 1; }
    sed '1,/^\r\{0,1\}$/d' <<<"$response"
)

# Whether a recognition call is open: compact_asr_active_streams >= 1 on the metrics port $2,
# or, with metrics off, a client connection on the gRPC port $1 for half a second.
stream_open() {
    if [[ -n $2 ]]; then
        local active
        active=$(http_get "$2" /metrics | awk '$1 == "compact_asr_active_streams" { print $2 }') || return 1
        awk -v a="${active:-0}" 'BEGIN { exit !(a >= 1) }'
    else
        [[ -n $(ss -Htn state established "( sport = :$1 )") ]] && sleep 0.5
    fi
}

run_test() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/compact-asr-image.XXXXXX")
    chmod 0755 "$WORK"
    trap cleanup EXIT
    build
    stage "$WORK/root"
    prepare_container "$WORK/root"

    local listen grpc_port metrics_listen metrics_port="" model p url
    DEFAULTS=$(in_container compact-asr config --print-default) || die "compact-asr config --print-default failed"
    listen=$(setting listen)
    grpc_port=$(port_of "$listen")
    metrics_listen=$(setting metrics_listen)
    case $metrics_listen in
        "" | off) log "note: metrics are off in the image; the metrics checks are skipped" ;;
        *) metrics_port=$(port_of "$metrics_listen") ;;
    esac
    model=$(setting model)
    [[ $model == /* ]] || model=${WORKDIR_IMG%/}/$model
    [[ -f $ROOT$model ]] || die "the image's model $model is not in the image"
    for p in $grpc_port $metrics_port; do
        [[ " ${EXPOSED[*]} " == *" $p "* ]] || die "port $p is used but not in EXPOSE (${EXPOSED[*]})"
    done
    [[ " ${HC_CMD[*]} " == *":$grpc_port "* ]] ||
        die "the HEALTHCHECK (${HC_CMD[*]}) does not probe the gRPC port $grpc_port"
    url=http://127.0.0.1:$grpc_port

    # The entry point must be the staged binary, not one of the host's.
    local resolved
    resolved=$(in_container sh -c "command -v ${ENTRYPOINT[0]:-${CMD[0]}}") || true
    [[ $resolved == "$ROOT"/* ]] || die "the entry point resolves to ${resolved:-nothing}, outside the staged root"

    # The probe must be able to fail: nothing listens yet.
    if healthcheck >/dev/null 2>&1; then die "the HEALTHCHECK passed with no server running"; fi

    log "run: ${ENTRYPOINT[*]} ${CMD[*]} (uid $USER_UID:$USER_GID, workdir $WORKDIR_IMG)"
    container_exec "${ENTRYPOINT[@]}" "${CMD[@]}" >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!

    local budget_s=$(((HC_START_MS + HC_RETRIES * HC_INTERVAL_MS) / 1000)) started=$SECONDS
    until healthcheck >"$WORK/health.out" 2>&1; do
        kill -0 "$SERVER_PID" 2>/dev/null || { server_log; die "the server exited during start-up"; }
        ((SECONDS - started < budget_s)) || {
            server_log; cat "$WORK/health.out" >&2
            die "not healthy within start-period + retries x interval (${budget_s} s)"
        }
        sleep 0.5
    done
    log "healthy after $((SECONDS - started)) s: $(tr -d '\n' <"$WORK/health.out")"

    # Each test clip over gRPC must read as it does in-process with the image's model.
    local wavs=("$REPO"/tests/data/*.wav) over_grpc in_process
    ((${#wavs[@]} > 0)) || die "no tests/data/*.wav"
    over_grpc=$("$BIN" transcribe --server "$url" "${wavs[@]}") || { server_log; die "transcribe --server failed"; }
    in_process=$("$BIN" transcribe --model "$ROOT$model" "${wavs[@]}") || die "in-process transcribe failed"
    [[ $over_grpc == "$in_process" ]] ||
        die "transcripts over gRPC differ from in-process ones:"$'\n'"$over_grpc"$'\n---\n'"$in_process"
    while IFS=$'\t' read -r file text; do
        [[ -n $text ]] || die "empty transcript for $file"
        log "transcribed $(basename "$file"): $text"
    done <<<"$over_grpc"

    if [[ -n $metrics_port ]]; then
        local metrics name audio
        metrics=$(http_get "$metrics_port" /metrics) || die "no /metrics on port $metrics_port"
        for name in compact_asr_active_streams compact_asr_pool_in_use compact_asr_pool_capacity \
            compact_asr_audio_seconds_total compact_asr_rtf compact_asr_chunk_latency_seconds \
            compact_asr_inference_seconds; do
            grep -q "^# TYPE $name " <<<"$metrics" || die "/metrics has no $name"
        done
        audio=$(awk '$1 == "compact_asr_audio_seconds_total" { print $2 }' <<<"$metrics")
        awk -v a="${audio:-0}" 'BEGIN { exit !(a > 0) }' ||
            die "compact_asr_audio_seconds_total is ${audio:-missing} after transcribing"
        log "metrics on :$metrics_port: compact_asr_audio_seconds_total $audio"
    fi

    # Stop like `docker stop`: STOPSIGNAL while a stream is live; the stream must still get
    # its final result and the server must exit 0 before Docker would SIGKILL it.
    local longest drain_expected rc
    longest=$(stat -c '%s %n' "${wavs[@]}" | sort -rn | head -n 1 | cut -d ' ' -f 2-)
    drain_expected=$(grep -F "$longest"$'\t' <<<"$in_process")
    "$BIN" transcribe --server "$url" --realtime "$longest" >"$WORK/drain.out" 2>&1 &
    CLIENT_PID=$!
    started=$SECONDS
    until stream_open "$grpc_port" "$metrics_port"; do
        ((SECONDS - started < 10)) || die "the streaming client's call never opened"
        sleep 0.05
    done
    log "sending $STOP_SIGNAL with a stream open"
    kill -s "${STOP_SIGNAL#SIG}" "$SERVER_PID"
    # While it drains, the probe must say NOT_SERVING (so no new traffic is sent its way).
    local draining=0
    while kill -0 "$SERVER_PID" 2>/dev/null && ((SECONDS - started < 20)); do
        if ! healthcheck >"$WORK/health.out" 2>&1 && grep -q NOT_SERVING "$WORK/health.out"; then
            draining=1
            break
        fi
        sleep 0.1
    done
    ((draining)) || { server_log; die "the HEALTHCHECK never answered NOT_SERVING while the server drained"; }
    log "draining: $(tr -d '\n' <"$WORK/health.out")"
    rc=0
    wait_for_exit "$SERVER_PID" "$DOCKER_STOP_TIMEOUT_S" || rc=$?
    ((rc != 124)) || { server_log; die "the server did not exit within ${DOCKER_STOP_TIMEOUT_S} s of $STOP_SIGNAL"; }
    SERVER_PID=""
    ((rc == 0)) || { server_log; die "the server exited with status $rc after $STOP_SIGNAL"; }
    rc=0
    wait_for_exit "$CLIENT_PID" 30 || rc=$?
    CLIENT_PID=""
    ((rc == 0)) || { cat "$WORK/drain.out" >&2; die "the stream open at $STOP_SIGNAL failed (status $rc)"; }
    [[ $(cat "$WORK/drain.out") == "$drain_expected" ]] ||
        die "the drained stream's transcript differs: $(cat "$WORK/drain.out") vs $drain_expected"
    log "drained: the open stream got its final; the server exited 0"
    log "OK"
}

parse_dockerfile
case ${1:-test} in
    test) run_test ;;
    describe)
        # What the runtime stage declares, for deploy/check.py's cross-file checks.
        printf 'user=%s:%s\nworkdir=%s\nexpose=%s\nstopsignal=%s\n' \
            "$USER_UID" "$USER_GID" "$WORKDIR_IMG" "${EXPOSED[*]}" "$STOP_SIGNAL"
        printf 'healthcheck=%s\nentrypoint=%s\ncmd=%s\n' "${HC_CMD[*]}" "${ENTRYPOINT[*]}" "${CMD[*]}"
        ;;
    stage)
        [[ -n ${2:-} ]] || die "usage: $0 stage DIR"
        build
        stage "$2"
        log "staged the runtime stage under $2"
        ;;
    *) die "usage: $0 [test|stage DIR|describe]" ;;
esac
