#!/usr/bin/env bash
# Upstream rustface 0.1.7 vs the vendored, patched copy: the first 40 frames of two clips from
# ../shared/data/video, scaled as fer-batch scales them for `--min-face 50` (×0.8), grey.
# Frames go to target/rustface-ab/ (never committed).
set -euo pipefail
cd "$(dirname "$0")"
data="${FER_DATA:-../../../shared/data/video}"
out=../../target/rustface-ab
mkdir -p "$out"
CARGO_TARGET_DIR="$out" cargo build --release --quiet
for spec in "talking_head_woman_596x336 477 269" "classroom_front_848x480 678 384" "classroom_wide_1280x720 1024 576"; do
  set -- $spec
  frames="$out/$1-$2x$3.gray"
  [ -s "$frames" ] || ffmpeg -v error -y -i "$data/$1.mp4" -frames:v 40 -vf "scale=$2:$3,format=gray" -f rawvideo "$frames"
  printf '%s: ' "$1"
  "$out/release/rustface-ab" "$frames" "$2" "$3"
done
