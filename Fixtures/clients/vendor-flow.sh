#!/usr/bin/env bash
# The client flow of the vendor's skill text 1.9, step by step, with every
# curl line as the text prints it (headers, bodies, --max-time). What is
# ours is marked "glue": reading answers with jq, loops, and waits scaled by
# a simulator's announced time scale (production announces none: 1).
#
#   NEMO_API_URL=http://127.0.0.1:8080 MEDIA_FILE=Fixtures/media/clip.mp4 Fixtures/clients/vendor-flow.sh
#
# Needs curl and jq. Writes stream.txt, video.mp4 and video-fallback.mp4 in
# the current folder, and (as the text does) ~/.config/nemovideo/client_id.
# Exit 0 when every step worked as the text says it should, 1 otherwise.
set -u -o pipefail                       # not -e: the text's `cat` fallback fails when the file is missing
API="${NEMO_API_URL:-https://mega-api-prod.nemovideo.ai}"
WEB="${NEMO_WEB_URL:-https://nemovideo.com}"
SKILL_NAME="nemo-video"                  # the skill's frontmatter name
SKILL_VERSION="1.9"                      # the skill's frontmatter version
SKILL_SOURCE="${SKILL_SOURCE:-unknown}"  # §3: the environment, else the install path, else unknown (never empty)
FILE="${MEDIA_FILE:-Fixtures/media/clip.mp4}"
URL_MEDIA="${MEDIA_URL:-https://example.com/video.mp4}"
MSG="${MESSAGE:-make a 30-second promo video with music}"
# glue: waits scaled by the simulator's clock (production: 1)
SCALE=$(curl -s "$API/_nemosim/health" 2>/dev/null | jq -r '.time_scale // 1' 2>/dev/null || echo 1)
nap() { sleep "$(awk -v s="$1" -v k="${SCALE:-1}" 'BEGIN{printf "%.3f", s/k}')"; }
die() { echo "FAILED: $*" >&2; exit 1; }
ok()  { jq -e '.code == 0' >/dev/null 2>&1 <<<"$1" || die "$2: $1"; }
step() { echo "== $*"; }

step "1. token (§1): the printed curl sends X-Client-Id only"
if [ -z "${NEMO_TOKEN:-}" ]; then
  CLIENT_ID="${NEMO_CLIENT_ID:-$(cat ~/.config/nemovideo/client_id 2>/dev/null)}"
  if [ -z "$CLIENT_ID" ]; then
    CLIENT_ID=$(uuidgen 2>/dev/null || echo "client-$(date +%s)-$RANDOM")
    mkdir -p ~/.config/nemovideo && echo "$CLIENT_ID" > ~/.config/nemovideo/client_id
  fi
  R=$(curl -s -X POST "$API/api/auth/anonymous-token" -H "X-Client-Id: $CLIENT_ID")
  if [ "$(jq -r .code <<<"$R" 2>/dev/null)" = 429 ]; then   # §7: 429, retry in 30 s once
    nap 30; R=$(curl -s -X POST "$API/api/auth/anonymous-token" -H "X-Client-Id: $CLIENT_ID")
  fi
  ok "$R" token
  NEMO_TOKEN=$(jq -r .data.token <<<"$R")
fi
TOKEN=$NEMO_TOKEN

step "2. session (§3.0)"
R=$(curl -s -X POST "$API/api/tasks/me/with-session/nemo_agent" \
  -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
  -H "X-Skill-Source: $SKILL_NAME" -H "X-Skill-Version: $SKILL_VERSION" -H "X-Skill-Platform: $SKILL_SOURCE" \
  -d '{"task_name":"project","language":"en"}'); ok "$R" session
SID=$(jq -r .data.session_id <<<"$R"); TASK_ID=$(jq -r .data.task_id <<<"$R")

step "3. claim token (§3.0) and the browser link"
R=$(curl -s -X POST "$API/api/auth/claim-token" \
  -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
  -H "X-Skill-Source: $SKILL_NAME" -H "X-Skill-Version: $SKILL_VERSION" -H "X-Skill-Platform: $SKILL_SOURCE" \
  -d "{\"task_id\":\"$TASK_ID\",\"session_id\":\"$SID\"}"); ok "$R" claim-token
CT=$(jq -r .data.claim_token <<<"$R"); echo "Open in browser: $WEB/workspace/claim?ct=$CT"
case "$CT" in clm_*) ;; *) die "claim token $CT is not a clm_ token";; esac

step "4. upload by file, then by URL (§3.2)"
R=$(curl -s -X POST "$API/api/upload-video/nemo_agent/me/$SID" -H "Authorization: Bearer $TOKEN" -H "X-Skill-Source: $SKILL_NAME" -H "X-Skill-Version: $SKILL_VERSION" -H "X-Skill-Platform: $SKILL_SOURCE" -F "files=@$FILE"); ok "$R" upload-file
R=$(curl -s -X POST "$API/api/upload-video/nemo_agent/me/$SID" -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -H "X-Skill-Source: $SKILL_NAME" -H "X-Skill-Version: $SKILL_VERSION" -H "X-Skill-Platform: $SKILL_SOURCE" -d "{\"urls\":[\"$URL_MEDIA\"],\"source_type\":\"url\"}"); ok "$R" upload-url

# glue: the draft as state shows it (§3.4)
state() { curl -s "$API/api/state/nemo_agent/me/$SID/latest" -H "Authorization: Bearer $TOKEN" \
  -H "X-Skill-Source: $SKILL_NAME" -H "X-Skill-Version: $SKILL_VERSION" -H "X-Skill-Platform: $SKILL_SOURCE"; }
draft() { state | jq -c .data.state.draft; }

step "5. message over SSE (§3.1)"
BEFORE=$(draft)
curl -s -X POST "$API/run_sse" \
  -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
  -H "Accept: text/event-stream" -H "X-Skill-Source: $SKILL_NAME" -H "X-Skill-Version: $SKILL_VERSION" -H "X-Skill-Platform: $SKILL_SOURCE" --max-time 900 \
  -d "{\"app_name\":\"nemo_agent\",\"user_id\":\"me\",\"session_id\":\"$SID\",\"new_message\":{\"parts\":[{\"text\":\"$MSG\"}]}}" > stream.txt
RC=$?
if [ "$(head -c1 stream.txt)" = "{" ] && [ "$(jq -r .code stream.txt 2>/dev/null)" = 1002 ]; then   # §7: 1002, a new session (§3.0), then again
  R=$(curl -s -X POST "$API/api/tasks/me/with-session/nemo_agent" \
    -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
    -H "X-Skill-Source: $SKILL_NAME" -H "X-Skill-Version: $SKILL_VERSION" -H "X-Skill-Platform: $SKILL_SOURCE" \
    -d '{"task_name":"project","language":"en"}'); ok "$R" session
  SID=$(jq -r .data.session_id <<<"$R"); BEFORE=$(draft)
  curl -s -X POST "$API/run_sse" \
    -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
    -H "Accept: text/event-stream" -H "X-Skill-Source: $SKILL_NAME" -H "X-Skill-Version: $SKILL_VERSION" -H "X-Skill-Platform: $SKILL_SOURCE" --max-time 900 \
    -d "{\"app_name\":\"nemo_agent\",\"user_id\":\"me\",\"session_id\":\"$SID\",\"new_message\":{\"parts\":[{\"text\":\"$MSG\"}]}}" > stream.txt
  RC=$?
fi
[ "$(head -c1 stream.txt)" = "{" ] && die "message refused: $(cat stream.txt)"   # an envelope, no stream
TEXTS=$(sed -n 's/^data: *//p' stream.txt | jq -r 'select(.type=="text") | .content' 2>/dev/null | grep -v 'encountered a temporary issue')
if [ $RC -ne 0 ]; then                        # §3.6: never re-send; 30 s, then every 60 s, at most 5 queries
  nap 30; n=1
  until [ "$(draft)" != "$BEFORE" ]; do [ $n -ge 5 ] && die "no change after 5 state queries: offer a retry"; nap 60; n=$((n+1)); done
elif [ -z "$TEXTS" ]; then                    # a silent close: query the state, compare, report
  [ "$(draft)" != "$BEFORE" ] && echo "changed (silent close)" || echo "no change seen"
else echo "$TEXTS"; fi

step "6. credits (§3.3)"
credits() { curl -s "$API/api/credits/balance/simple" -H "Authorization: Bearer $TOKEN" \
  -H "X-Skill-Source: $SKILL_NAME" -H "X-Skill-Version: $SKILL_VERSION" -H "X-Skill-Platform: $SKILL_SOURCE"; }
R=$(credits)
if [ "$(jq -r .code <<<"$R" 2>/dev/null)" = 1001 ]; then   # §7: 1001, re-auth via anonymous-token, then again
  R=$(curl -s -X POST "$API/api/auth/anonymous-token" -H "X-Client-Id: $CLIENT_ID"); ok "$R" token
  TOKEN=$(jq -r .data.token <<<"$R"); R=$(credits)
fi
ok "$R" credits
echo "credits: $(jq -c .data <<<"$R")"

step "7. state and the export pre-check (§3.4, §3.5a)"
# glue: wait for a ready draft (generation has two stages)
for i in 1 2 3 4 5; do
  DRAFT=$(draft); jq -e '.t | any(.sg | length > 0)' >/dev/null 2>&1 <<<"$DRAFT" && break; nap 30; done
jq -e '.t | any(.sg | length > 0)' >/dev/null <<<"$DRAFT" || die "no draft: generate first"

step "8. export (§3.5b), one retry with a new id"
# glue: the id is chosen here, outside the subshell that sends it
submit() {
  curl -s -X POST "$API/api/render/proxy/lambda" -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -H "X-Skill-Source: $SKILL_NAME" -H "X-Skill-Version: $SKILL_VERSION" -H "X-Skill-Platform: $SKILL_SOURCE" \
    -d "$(jq -nc --arg id "$RID" --arg sid "$SID" --argjson draft "$DRAFT" '{id:$id,sessionId:$sid,draft:$draft,output:{format:"mp4",quality:"high"}}')"; }
RID="render_$(date +%s)_$RANDOM"; R=$(submit)
if ! jq -e '.success == true' >/dev/null <<<"$R"; then
  RID="${RID}_2"; R=$(submit); jq -e '.success == true' >/dev/null <<<"$R" || die "render: $R"
fi

step "9. poll (§3.5c): every 30 s, at most 10"
# The text reads the top-level status and output.url; glue reads either shape.
for i in $(seq 1 10); do
  R=$(curl -s "$API/api/render/proxy/lambda/$RID" -H "Authorization: Bearer $TOKEN" -H "X-Skill-Source: $SKILL_NAME" -H "X-Skill-Version: $SKILL_VERSION" -H "X-Skill-Platform: $SKILL_SOURCE")
  ST=$(jq -r '.status // .data.status' <<<"$R"); echo "⏳ $ST $(jq -r '.progress // .data.progress' <<<"$R")%"
  case "$ST" in completed|failed|cancelled) break;; esac; nap 30; done
[ "$ST" = completed ] || die "render ended $ST"
OUT=$(jq -r '.output.url // .data.outputUrl' <<<"$R")

step "10. both downloads (§3.5d): the URL (no headers), then the API fallback"
curl -s -o video.mp4 "$OUT"
curl -s -o video-fallback.mp4 "$API/api/render/proxy/$RID/download" -H "Authorization: Bearer $TOKEN" \
  -H "X-Skill-Source: $SKILL_NAME" -H "X-Skill-Version: $SKILL_VERSION" -H "X-Skill-Platform: $SKILL_SOURCE"
for f in video.mp4 video-fallback.mp4; do [ "$(dd if=$f bs=1 skip=4 count=4 2>/dev/null)" = ftyp ] || die "$f is not an MP4"; done

step "11. deliver (§3.5e): the file and the task link (the same claim token)"
echo "✅ Video ready! video.mp4 — open the project: $WEB/workspace/claim?ct=$CT"
