#!/usr/bin/env bash
# End-to-end smoke test of the compose stack (`make e2e`): builds the images
# (scripts/images.sh), starts deploy/docker-compose.yml as project weir-e2e
# with TLS, mutual between the jobmanager and the taskmanagers, and bearer
# tokens (certificates and tokens from scripts/certs.sh in a directory of its
# own), and from the host:
#
#   0. checks that what has no credential is refused: `weir list` without a
#      token (not authenticated), plaintext gRPC and HTTP, the API without a
#      token (401), a viewer's cancel (permission denied), and a
#      taskmanager's metrics port in plaintext; every other weir call
#      verifies the jobmanager against the CA (--tls-ca) and sends the admin
#      token (WEIR_TOKEN), and every curl does the same (--cacert, the token
#      from a header file, never on a command line);
#   1. runs WordCount with checkpoints to MinIO and checks its output;
#   2. runs a rate-limited WordCount (5 lines/s, about 7 s), SIGKILLs
#      taskmanager-1 after the first completed checkpoint, waits for its
#      restart policy to bring it back and for the job to restart from the
#      checkpoint and finish, and checks that the output holds every
#      word,count exactly once;
#   3. the Kafka walkthrough (README, docs/operations.md): creates topics
#      words and counts, produces half the input to words, submits
#      WordCount from Kafka to Kafka (exactly-once transactions), waits for
#      two completed checkpoints, SIGKILLs taskmanager-2 while the rest of
#      the input is being produced, waits for the job to recover, and reads
#      counts with read_committed (tools/kafkaio, an independent client)
#      until it holds every word,count: exactly once, nothing duplicated,
#      nothing lost;
#   4. checks that no token appears in any container's log.
#
# The stack is torn down (volumes included) on every exit, and the script
# exits non-zero on the first failure, after printing the containers' logs.
# Every wait is bounded.
#
# Why the kill is not `docker kill`: Docker treats a kill through its API as
# a deliberate stop, and a restart policy never restarts a container that
# was stopped deliberately. A crash is the process dying on its own, so the
# script SIGKILLs the container's process from the host (kill -KILL on
# .State.Pid), which needs root. Without root it falls back to `docker kill
# -s KILL` followed by `docker start`, and says so.
#
# Environment: E2E_SKIP_IMAGES=1 uses the images already built;
# E2E_KEEP=1 leaves the stack up on failure for a look (then: make down,
# or the compose command printed).
set -euo pipefail
cd "$(dirname "$0")/.."

project=weir-e2e
jm=127.0.0.1:6123
http=127.0.0.1:8081
input=examples/wordcount/data/hamlet.txt
start=$SECONDS

step() { printf 'e2e: [%3ds] %s\n' "$((SECONDS - start))" "$*"; }
fail() {
  printf 'e2e: [%3ds] FAIL: %s\n' "$((SECONDS - start))" "$*" >&2
  exit 1
}

# wait_for SECONDS WHAT COMMAND...: polls COMMAND every second until it
# succeeds, failing after SECONDS.
wait_for() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${limit}s waiting for $what"
    sleep 1
  done
}

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose=(docker-compose)
else
  fail "neither 'docker compose' nor docker-compose is installed"
fi
stack=("${compose[@]}" -p "$project" -f deploy/docker-compose.yml)
step "using ${compose[*]} $("${compose[@]}" version --short 2>/dev/null || echo '(version unknown)')"

# A stack already running (make up) holds the ports.
for port in 6123 8081 9000 9001 9092; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    fail "127.0.0.1:$port is in use: is a stack up? (make down)"
  fi
done

data="$(mktemp -d "${TMPDIR:-/tmp}/weir-e2e.XXXXXX")"
up=0
cleanup() {
  local rc=$?
  set +e
  if [ "$up" = 1 ]; then
    if [ "$rc" != 0 ]; then
      echo "e2e: ---- containers ----" >&2
      "${stack[@]}" ps >&2
      echo "e2e: ---- logs (last 60 lines each) ----" >&2
      "${stack[@]}" logs --no-color --tail=60 >&2
    fi
    if [ "$rc" != 0 ] && [ "${E2E_KEEP:-0}" = 1 ]; then
      echo "e2e: E2E_KEEP=1: leaving the stack up; tear it down with: WEIRDEPLOY_DATA_DIR=$data ${stack[*]} down -v" >&2
      exit "$rc"
    fi
    step "tearing down"
    "${stack[@]}" down -v --remove-orphans --timeout 5 >/dev/null 2>&1 || echo "e2e: warning: compose down failed" >&2
  fi
  rm -rf "$data" 2>/dev/null || echo "e2e: warning: could not remove $data" >&2
  if [ "$rc" = 0 ]; then
    step "PASS"
  else
    printf 'e2e: [%3ds] FAILED (exit %d)\n' "$((SECONDS - start))" "$rc" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The containers run as uid 65532: the shared /data must be writable by
# it, and the output directories are made here, by this user, so that the
# files the containers write in them can be removed without root.
cp "$input" "$data/hamlet.txt"
mkdir "$data/out" "$data/out-kill"
chmod 0777 "$data" "$data/out" "$data/out-kill"
chmod 0644 "$data/hamlet.txt"
export WEIRDEPLOY_DATA_DIR="$data"

if [ "${E2E_SKIP_IMAGES:-0}" != 1 ]; then
  step "building images"
  bash scripts/images.sh
else
  [ -x bin/weir ] || fail "E2E_SKIP_IMAGES=1 but there is no bin/weir (make build)"
fi

# TLS material and tokens of this stack only: a CA, certificates with the
# services' names, an admin and a viewer token.
certs="$data/certs"
bash scripts/certs.sh "$certs" 2>"$data/certs.log" || { cat "$data/certs.log" >&2; fail "scripts/certs.sh failed"; }
export WEIRDEPLOY_CERTS_DIR="$certs"
ca="$certs/ca.pem"
admin_token="$(cat "$certs/admin.token")"
viewer_token="$(cat "$certs/viewer.token")"
# The CLI's token comes from the environment, curl's from a header file:
# neither shows in the process list.
export WEIR_TOKEN="$admin_token"
unset WEIR_TLS_CA WEIR_TLS_CERT WEIR_TLS_KEY WEIR_JOBMANAGER
(umask 077 && printf 'Authorization: Bearer %s\n' "$admin_token" >"$data/auth.header")
CGO_ENABLED=0 go build -o bin/kafkaio ./tools/kafkaio || fail "building tools/kafkaio"
for img in weir:dev minio/minio:latest apache/kafka:latest; do
  docker image inspect "$img" >/dev/null 2>&1 || fail "image $img is missing (make images)"
done

step "starting the stack (project $project, data $data)"
up=1
"${stack[@]}" up -d >"$data/compose-up.log" 2>&1 || { cat "$data/compose-up.log" >&2; fail "compose up failed"; }

# api PATH: GET https://$http/PATH, the server checked against the CA, with
# the admin token.
api() { curl -fsS --max-time 2 --cacert "$ca" -H @"$data/auth.header" "https://$http$1"; }
taskmanagers() {
  api /api/v1/overview | tr -d ' \n' | grep -o '"taskmanagers":[0-9]*' | cut -d: -f2
}
two_taskmanagers() { [ "$(taskmanagers)" = 2 ]; }
wait_for 120 "the jobmanager to answer on https://$http" curl -fsS --max-time 2 --cacert "$ca" "https://$http/healthz"
wait_for 60 "2 taskmanagers to register" two_taskmanagers
healthy() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$("${stack[@]}" ps -q "$1")")" = healthy ]; }
for svc in jobmanager taskmanager-1 taskmanager-2; do
  wait_for 60 "$svc's healthcheck (/healthcheck -ca over HTTPS) to pass" healthy "$svc"
done
step "cluster up over TLS: jobmanager and taskmanagers healthy (HTTPS healthchecks), 2 taskmanagers registered"

# What carries no credential is refused.
out="$(env -u WEIR_TOKEN timeout 30 ./bin/weir -m "$jm" --tls-ca "$ca" list 2>&1)" &&
  fail "weir list without a token succeeded: $out"
grep -q 'not authenticated' <<<"$out" || fail "weir list without a token: want 'not authenticated' (Unauthenticated), got: $out"
step "refused: weir list over TLS without a token ($out)"
out="$(env -u WEIR_TOKEN timeout 30 ./bin/weir -m "$jm" list 2>&1)" && fail "weir list in plaintext succeeded: $out"
step "refused: weir list in plaintext ($out)"
code="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$ca" "https://$http/api/v1/overview")"
[ "$code" = 401 ] || fail "GET /api/v1/overview without a token answered $code, want 401"
code="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 2 "http://$http/api/v1/overview" 2>/dev/null || true)"
case "$code" in 2*) fail "GET http://$http/api/v1/overview in plaintext answered $code" ;; esac
if docker exec "$("${stack[@]}" ps -q taskmanager-1)" /healthcheck http://127.0.0.1:9249/readyz >/dev/null 2>&1; then
  fail "taskmanager-1's metrics port answered plaintext HTTP"
fi
api /metrics | grep -q '^weir_' || fail "GET /metrics with the token: no weir_ metric"
out="$(WEIR_TOKEN="$viewer_token" timeout 30 ./bin/weir -m "$jm" --tls-ca "$ca" list 2>&1)" ||
  fail "weir list with the viewer token failed: $out"
step "refused: the API without a token (401), plaintext HTTP, a taskmanager's metrics in plaintext; the viewer token lists, /metrics answers with the token"

# expected prints every word,count WordCount emits for the input, sorted:
# lowercased, split on every character that is not a letter or digit (the
# example's rule; this awk is the ASCII case of it, so the input must be
# ASCII), one line per word with its running count.
[ "$(LC_ALL=C tr -d '\000-\177' <"$input" | wc -c)" -eq 0 ] || fail "$input is not ASCII; the expected-output rule here is ASCII only"
expected() {
  LC_ALL=C awk '{ n = split(tolower($0), w, /[^a-z0-9]+/); for (i = 1; i <= n; i++) if (w[i] != "") print w[i] "," ++c[w[i]] }' "$input" | LC_ALL=C sort
}
words="$(expected | wc -l)"

# check_output DIR: the visible part files hold exactly the expected lines.
check_output() {
  local dir=$1
  compgen -G "$dir/part-*" >/dev/null || fail "no part files in $dir"
  local got
  got="$(cat "$dir"/part-* | wc -l)"
  if ! diff <(expected) <(cat "$dir"/part-* | LC_ALL=C sort) >"$data/diff" 2>&1; then
    head -20 "$data/diff" >&2
    fail "$dir: $got lines, want $words (the words of $input); diff above (< want, > got)"
  fi
  local parts=("$dir"/part-*)
  step "output ok: $got lines in ${#parts[@]} part files = $words words, every word,count exactly once"
}

weir() { timeout 30 ./bin/weir -m "$jm" --tls-ca "$ca" "$@"; }
job_field() { weir status "$1" | awk -v f="$2:" '$1 == f { print $2 }'; }

step "job 1: wordcount -p 2 with checkpoints every 1s to s3://weir/checkpoints"
timeout 120 ./bin/weir -m "$jm" --tls-ca "$ca" run -p 2 -D execution.checkpointing.interval=1s \
  wordcount --input /data/hamlet.txt --output /data/out >"$data/job1.log" 2>&1 ||
  { cat "$data/job1.log" >&2; fail "job 1 did not finish"; }
step "job 1 finished: $(tail -1 "$data/job1.log")"
check_output "$data/out"

step "job 2: rate-limited wordcount (5 lines/s over $(wc -l <"$input") lines), to be interrupted"
weir run -d -p 2 -D execution.checkpointing.interval=1s \
  wordcount --input /data/hamlet.txt --output /data/out-kill --rate 5 >"$data/job2.log" 2>&1 ||
  { cat "$data/job2.log" >&2; fail "job 2 was not accepted"; }
job="$(awk 'END { print $NF }' "$data/job2.log")"
[[ "$job" =~ ^[0-9a-f]{32}$ ]] || { cat "$data/job2.log" >&2; fail "no job ID in weir run -d's output"; }
completed_checkpoint() {
  api "/api/v1/jobs/$job/checkpoints" | tr -d ' \n' | grep -q '"completed":[1-9]'
}
wait_for 30 "job 2's first completed checkpoint" completed_checkpoint
[ "$(job_field "$job" Status)" = RUNNING ] || fail "job 2 is $(job_field "$job" Status) before the kill; want RUNNING (too fast to interrupt?)"
step "job 2 ($job) is RUNNING with a completed checkpoint"

# crash SERVICE: SIGKILLs the service's container process and waits for it
# to be running again.
crash() {
  local svc=$1 id
  id="$("${stack[@]}" ps -q "$svc")"
  [ -n "$id" ] || fail "no $svc container"
  local restarts_before
  restarts_before="$(docker inspect -f '{{.RestartCount}}' "$id")"
  if [ "$(id -u)" = 0 ]; then
    local pid
    pid="$(docker inspect -f '{{.State.Pid}}' "$id")"
    [ "$pid" -gt 0 ] || fail "$svc is not running"
    kill -KILL "$pid"
    step "killed $svc (SIGKILL to its process, pid $pid on the host): a crash, as the restart policy sees it"
    restarted() {
      [ "$(docker inspect -f '{{.RestartCount}} {{.State.Running}}' "$id")" = "$((restarts_before + 1)) true" ]
    }
    wait_for 30 "$svc's restart policy to bring it back" restarted
    step "$svc is back (restart policy; restart count $((restarts_before + 1)))"
  else
    docker kill -s KILL "$id" >/dev/null
    step "killed $svc (docker kill -s KILL; not root, so no host-side crash)"
    docker start "$id" >/dev/null
    step "$svc started again by hand: docker kill disables the restart policy"
  fi
}
crash taskmanager-1

job_state() { job_field "$job" Status; }
job_ended() { case "$(job_state)" in FINISHED | FAILED | CANCELED) return 0 ;; *) return 1 ;; esac }
wait_for 120 "job 2 to end" job_ended
state="$(job_state)"
restarts="$(job_field "$job" Restarts)"
if [ "$state" != FINISHED ]; then
  weir status "$job" >&2 || true
  fail "job 2 ended $state, want FINISHED"
fi
[ "${restarts:-0}" -ge 1 ] || fail "job 2 finished with $restarts restarts: the kill did not interrupt it"
restored="$("${stack[@]}" logs --no-color jobmanager 2>/dev/null | grep 'msg=restoring' | grep "job=$job" |
  grep -o 'checkpoint=[0-9]*' | cut -d= -f2 | paste -sd, - || true)"
step "job recovered: job 2 FINISHED after $restarts restart(s), restored from checkpoint ${restored:-? (no restore in the jobmanager log)}"
weir checkpoints "$job" >"$data/checkpoints.txt" 2>&1 || true
step "job 2 checkpoints: $(grep -c ' COMPLETED ' "$data/checkpoints.txt" || true) completed to s3://weir/checkpoints/$job/; $(grep -i '^latest' "$data/checkpoints.txt" || true)"

check_output "$data/out-kill"
wait_for 60 "taskmanager-1 to register again (2 taskmanagers)" two_taskmanagers
step "cluster healthy again: 2 taskmanagers registered"

# ---- job 3: the Kafka walkthrough ----
kafkaio() { timeout 130 ./bin/kafkaio -brokers 127.0.0.1:9092 "$@"; }
lines="$(wc -l <"$input")"
half=$((lines / 2))
step "job 3: Kafka WordCount, topic words -> topic counts, exactly once, through a taskmanager kill"
kafkaio create words -partitions 2 >/dev/null || fail "creating topic words"
kafkaio create counts -partitions 2 >/dev/null || fail "creating topic counts"
head -n "$half" "$input" | kafkaio produce words >"$data/produce1.log" || { cat "$data/produce1.log" >&2; fail "producing to words"; }
step "produced lines 1-$half of $input to words ($(cat "$data/produce1.log"))"
weir run -d -p 2 -D execution.checkpointing.interval=1s \
  wordcount --input kafka://kafka:9092/words --output kafka://kafka:9092/counts >"$data/job3.log" 2>&1 ||
  { cat "$data/job3.log" >&2; fail "job 3 was not accepted"; }
job="$(awk 'END { print $NF }' "$data/job3.log")"
[[ "$job" =~ ^[0-9a-f]{32}$ ]] || { cat "$data/job3.log" >&2; fail "no job ID in weir run -d's output"; }
two_checkpoints() {
  api "/api/v1/jobs/$job/checkpoints" | tr -d ' \n' | grep -Eq '"completed":([2-9]|[1-9][0-9])'
}
wait_for 60 "job 3's second completed checkpoint" two_checkpoints
[ "$(job_field "$job" Status)" = RUNNING ] || fail "job 3 is $(job_field "$job" Status), want RUNNING"
step "job 3 ($job) is RUNNING with two completed checkpoints"

# The rest of the input goes in ten pieces, one every half second, while
# taskmanager-2 is killed: records are in flight and in open transactions.
(
  for i in $(seq 0 9); do
    from=$((half + 1 + i * (lines - half) / 10))
    to=$((half + (i + 1) * (lines - half) / 10))
    sed -n "${from},${to}p" "$input" | kafkaio produce words >/dev/null || exit 1
    sleep 0.5 # pacing the input, not synchronising
  done
) &
producer=$!
crash taskmanager-2
wait "$producer" || fail "producing lines $((half + 1))-$lines to words failed"
step "produced lines $((half + 1))-$lines to words"

# counts holds the expected lines once the job has caught up and the
# checkpoint after them has committed its transactions. More lines than
# expected is a duplicate: fail at once.
counts_complete() {
  kafkaio consume counts -idle 2s >"$data/counts.txt" 2>"$data/consume.log" || return 1
  [ "$(wc -l <"$data/counts.txt")" -ge "$words" ]
}
wait_for 120 "topic counts to hold a line for every word (read_committed)" counts_complete
n="$(wc -l <"$data/counts.txt")"
[ "$n" -eq "$words" ] || fail "topic counts holds $n lines, more than the $words words of the input: duplicates"
restarts="$(job_field "$job" Restarts)"
[ "${restarts:-0}" -ge 1 ] || fail "job 3 has $restarts restarts: the kill did not interrupt it"
if ! diff <(expected) <(LC_ALL=C sort "$data/counts.txt") >"$data/diff" 2>&1; then
  head -20 "$data/diff" >&2
  fail "topic counts: $(wc -l <"$data/counts.txt") lines, want $words; diff above (< want, > got)"
fi
step "job 3 recovered ($restarts restart(s)); topic counts, read_committed: $words lines, every word,count exactly once"

# Two more checkpoints complete, and nothing more appears: no late
# duplicates.
completed_now() { api "/api/v1/jobs/$job/checkpoints" | tr -d ' \n' | grep -o '"completed":[0-9]*' | cut -d: -f2; }
target=$(($(completed_now) + 2))
more_checkpoints() { [ "$(completed_now)" -ge "$target" ]; }
wait_for 30 "two more completed checkpoints of job 3" more_checkpoints
kafkaio consume counts -idle 2s >"$data/counts-after.txt" 2>/dev/null || fail "reading counts again"
[ "$(wc -l <"$data/counts-after.txt")" -eq "$words" ] || fail "counts holds $(wc -l <"$data/counts-after.txt") lines after two more checkpoints, want $words"
out="$(WEIR_TOKEN="$viewer_token" weir cancel "$job" 2>&1)" && fail "a viewer cancelled job 3: $out"
grep -q 'permission denied' <<<"$out" || fail "weir cancel with the viewer token: want 'permission denied', got: $out"
weir cancel "$job" >/dev/null || fail "cancelling job 3"
step "job 3 cancelled (the viewer token was refused: $out); counts unchanged after two more checkpoints"

"${stack[@]}" logs --no-color >"$data/all.log" 2>&1 || fail "reading the containers' logs"
for t in "$admin_token" "$viewer_token"; do
  if grep -qF "$t" "$data/all.log"; then fail "a token appears in the containers' logs"; fi
done
step "no token in the containers' logs ($(wc -l <"$data/all.log") lines)"
