#!/usr/bin/env bash
# Set up the app: system packages on a Pi, a Python venv, and the models.
#
#   ./setup.sh                          # on a Pi: apt packages, .venv, download models
#   ./setup.sh --models-from DIR        # copy the models from a folder instead (offline)
#   ./setup.sh --all-models             # also fetch MoViNet-A1 and A2
#   ./setup.sh --all-models --pins FILE # ... and check them against sha256sum lines in FILE
#   ./setup.sh --install-service [--desktop|--console] [-- classify.py flags]
#                                       # run at boot, restart on failure (systemd)
#
# Safe to run again: finished steps are skipped, models already verified are kept.
set -euo pipefail
cd "$(dirname "$0")"

VENV=${VENV:-.venv}
MODELS_FROM=""
ALL_MODELS=""
PINS=""
SKIP_MODELS=""
SERVICE=""
DESKTOP=""
CONSOLE=""
SERVICE_ARGS=()

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --models-from) [[ $# -ge 2 ]] || { echo "error: --models-from needs a folder" >&2; exit 2; }
                   MODELS_FROM=$2; shift 2 ;;
    --all-models) ALL_MODELS=1; shift ;;
    --pins) [[ $# -ge 2 ]] || { echo "error: --pins needs a file of sha256sum lines" >&2; exit 2; }
            PINS=$2; shift 2 ;;
    --skip-models) SKIP_MODELS=1; shift ;;
    --install-service) SERVICE=1; shift ;;
    --desktop) DESKTOP=1; shift ;;
    --console) CONSOLE=1; shift ;;
    --) shift; SERVICE_ARGS=("$@"); break ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown option $1 (see ./setup.sh --help)" >&2; exit 2 ;;
  esac
done

step() { printf '\n==> %s\n' "$*"; }

is_pi() { grep -qs "Raspberry Pi" /proc/device-tree/model; }

step "System packages"
if is_pi && command -v apt-get >/dev/null; then
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  # picamera2 and libcamera only come from Raspberry Pi OS's apt; libgl1 is what the
  # opencv-python wheel needs to import on Pi OS Lite.
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq python3-picamera2 python3-venv python3-pip libgl1
else
  echo "not a Raspberry Pi: skipping apt packages (python3-picamera2); video files and USB cameras still work"
fi

step "Python environment in $VENV"
if [[ ! -x $VENV/bin/python ]]; then
  # --system-site-packages: picamera2 is installed by apt, not pip, and must stay visible.
  python3 -m venv --system-site-packages "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -r requirements.txt
"$VENV/bin/python" - <<'PY'
from video_classifier.runtime import load_runtime
import cv2, numpy
print(f"runtime {load_runtime()}, numpy {numpy.__version__}, opencv {cv2.__version__}")
PY

if [[ -z $SKIP_MODELS ]]; then
  step "Models into models/"
  args=(--dest models)
  [[ -n $MODELS_FROM ]] && args+=(--from "$MODELS_FROM")
  [[ -n $ALL_MODELS ]] && args+=(--all)
  [[ -n $PINS ]] && args+=(--pins "$PINS")
  "$VENV/bin/python" -m install.fetch_models "${args[@]}"
fi

if [[ -n $SERVICE ]]; then
  step "systemd service"
  unit=movinet-actions.service
  if [[ -n $DESKTOP ]]; then
    # A user service: it starts with the desktop session, so the window can open on :0.
    dir=$HOME/.config/systemd/user
    mkdir -p "$dir"
    "$VENV/bin/python" -m install.service --desktop -- "${SERVICE_ARGS[@]}" > "$dir/$unit"
    systemctl --user daemon-reload
    systemctl --user enable --now "$unit"
    echo "installed $dir/$unit; follow it with: journalctl --user -u $unit -f"
  else
    SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
    mkdir -p logs
    mode=(); [[ -n $CONSOLE ]] && mode=(--console)
    "$VENV/bin/python" -m install.service "${mode[@]}" --user "$(id -un)" -- "${SERVICE_ARGS[@]}" | $SUDO tee /etc/systemd/system/$unit >/dev/null
    $SUDO systemctl daemon-reload
    $SUDO systemctl enable --now "$unit"
    echo "installed /etc/systemd/system/$unit; follow it with: journalctl -u $unit -f"
  fi
fi

step "Done"
# A first command that works here: the Pi camera on a Pi, else a clip (the window only with a screen).
if is_pi; then
  echo "Try: $VENV/bin/python classify.py   (the Pi camera; --no-display --serve 0.0.0.0:8000 without a monitor)"
else
  clip=media/carving_ice.mp4
  [[ -f $clip ]] || echo "Get the test clips: $VENV/bin/python tests/fetch_test_data.py   (offline: --from DIR, a mirror)"
  screen=" --no-display"; [[ -n ${DISPLAY:-}${WAYLAND_DISPLAY:-} ]] && screen=""
  echo "Try: $VENV/bin/python classify.py --camera $clip$screen   (see README.md, Try it without a Pi)"
fi
