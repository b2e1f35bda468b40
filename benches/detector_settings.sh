#!/usr/bin/env bash
# Coarser SeetaFace scanning (`--detector seetaface`, the detector before YuNet) against its
# default, with detection on every frame: detection CPU
# time, wall time and what it costs (benches/match_faces.py against the default run's faces).
#
#   bash benches/detector_settings.sh [BINARY]      # default: target/release/fer-batch
#
# Variants: sliding-window step 6 and 8 (default 4), pyramid scale 0.7 (default 0.8), and both.
# Needs the project's .venv (pyarrow; scripts/deps.sh makes it) and ../shared/data/video.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/release/fer-batch}"
data="${FER_DATA:-../shared/data/video}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
summary() {
  python3 - "$@" <<'PY'
import json, sys
clip, name, ref, cand, acc = sys.argv[1:6]
def stats(d):
    r = json.load(open(f"{d}/report.json"))["inputs"][0]["report"]
    return r["stages"]["detect_s"], r["faces"], float(open(f"{d}/time").read().split()[0])
(rd, _, rw), (cd, cf, cw) = stats(ref), stats(cand)
a = json.loads(acc)
print(f"| {clip} | {name} | {rd:.2f} → {cd:.2f} ({rd / cd:.2f}×) | {rw:.2f} → {cw:.2f} | {cf} | "
      f"{100 * a['recall']:.1f}% | {100 * a['precision']:.1f}% | {a['mean_iou']:.2f} | {100 * a['label_agreement']:.1f}% |")
PY
}
echo "| clip | variant | detect CPU s (default → variant) | wall s | faces | recall | precision | mean IoU | labels agree |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
for clip in talking_head_woman_596x336 classroom_front_848x480 classroom_wide_1280x720; do
  run() {
    local name=$1; shift
    mkdir -p "$work/$clip-$name"
    /usr/bin/time -f "%e" -o "$work/$clip-$name/time" "$bin" run "$data/$clip.mp4" --out "$work/$clip-$name/faces.parquet" \
      --report "$work/$clip-$name/report.json" --force --no-progress --detector seetaface --min-face 50 --sample-fps 0 "$@" >/dev/null 2>&1
  }
  run default
  for variant in "step-6:--set detect.window-step=6" "step-8:--set detect.window-step=8" \
                 "pyramid-0.7:--set detect.pyramid-scale=0.7" "both:--set detect.pyramid-scale=0.7 --set detect.window-step=6"; do
    name="${variant%%:*}"
    # shellcheck disable=SC2086
    run "$name" ${variant#*:}
    acc="$(.venv/bin/python benches/match_faces.py "$work/$clip-default/faces.parquet" "$work/$clip-$name/faces.parquet")"
    summary "$clip" "$name" "$work/$clip-default" "$work/$clip-$name" "$acc"
  done
done
