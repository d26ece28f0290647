#!/usr/bin/env bash
# Set up the app: system packages on a Pi, a Python venv, and the models.
#
#   ./setup.sh                          # on a Pi: apt packages, .venv, download models
#   ./setup.sh --models-from DIR        # copy the models from a folder instead (offline)
#   ./setup.sh --all-models             # also fetch MoViNet-A1 and A2
#   ./setup.sh --all-models --pins FILE # ... and check them against sha256sum lines in FILE
#   ./setup.sh --install-service [NAME] [--desktop|--console] [-- classify.py flags]
#                                       # run instance NAME (default: main) at boot, restart on failure
#                                       # (systemd movinet@NAME; one per camera, flags in /etc/movinet/NAME.args)
#   ./setup.sh --remove-service NAME [--desktop]   # stop and remove instance NAME (only that)
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
SERVICE_NAME=main
REMOVE=""
DESKTOP=""
CONSOLE=""
SERVICE_ARGS=()

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
# A camera URL given where a name or an option goes is not repeated: it may hold a password.
url_hint="a camera URL goes after --, e.g. ./setup.sh --install-service door -- --camera URL (not shown: it may hold a password)"
while [[ $# -gt 0 ]]; do
  case $1 in
    *://*) echo "error: $url_hint" >&2; exit 2 ;;
    --models-from) [[ $# -ge 2 ]] || { echo "error: --models-from needs a folder" >&2; exit 2; }
                   MODELS_FROM=$2; shift 2 ;;
    --all-models) ALL_MODELS=1; shift ;;
    --pins) [[ $# -ge 2 ]] || { echo "error: --pins needs a file of sha256sum lines" >&2; exit 2; }
            PINS=$2; shift 2 ;;
    --skip-models) SKIP_MODELS=1; shift ;;
    --install-service) SERVICE=1; shift
                       if [[ $# -gt 0 && $1 != -* ]]; then SERVICE_NAME=$1; shift; fi ;;
    --remove-service) [[ $# -ge 2 && $2 != -* ]] || { echo "error: --remove-service needs an instance name (see: systemctl list-units 'movinet@*')" >&2; exit 2; }
                      REMOVE=$2; shift 2 ;;
    --desktop) DESKTOP=1; shift ;;
    --console) CONSOLE=1; shift ;;
    --) shift; SERVICE_ARGS=("$@"); break ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown option $1 (see ./setup.sh --help)" >&2; exit 2 ;;
  esac
done

if [[ -n $SERVICE && -n $REMOVE ]]; then
  echo "error: --install-service and --remove-service are two jobs: give one at a time" >&2; exit 2
fi
if [[ -n $DESKTOP && -n $CONSOLE ]]; then
  echo "error: --desktop (a window on the desktop) and --console (the picture without a desktop): give one" >&2; exit 2
fi
# The rule of install/service.py, checked here too so that a typo stops before the long steps.
name=${REMOVE:-$SERVICE_NAME}
if [[ $name == *://* ]]; then
  echo "error: $url_hint" >&2; exit 2
fi
if [[ -n $SERVICE$REMOVE && ! $name =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$ ]]; then
  echo "error: instance name '$name': use 1 to 32 letters, digits, '_' or '-', starting with a letter or digit (e.g. garden)" >&2
  exit 2
fi

SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
# The system service's files are in /etc (root's); the desktop's are the user's own.
if [[ -n $DESKTOP ]]; then as=(); ctl=(systemctl --user); else as=($SUDO); ctl=($SUDO systemctl); fi
service=("${as[@]}" "$VENV/bin/python" -B -m install.service)  # -B: no root-owned .pyc in the checkout
# A new or removed instance changes every instance's share of the cores (threads.env): the
# running ones restart to take it.
restart_all() { "${ctl[@]}" daemon-reload; "${ctl[@]}" try-restart 'movinet@*.service'; }

if [[ -n $REMOVE ]]; then
  [[ -x $VENV/bin/python ]] || { echo "error: no $VENV/bin/python: nothing was installed from here (run ./setup.sh first)" >&2; exit 2; }
  mode=(); [[ -n $DESKTOP ]] && mode=(--desktop)
  "${service[@]}" remove "$REMOVE" "${mode[@]}"   # refuses an unknown name before systemd is touched
  "${ctl[@]}" disable --now "movinet@$REMOVE.service"
  restart_all
  echo "removed movinet@$REMOVE; still installed: systemctl ${DESKTOP:+--user }list-units 'movinet@*'"
  exit 0
fi

step() { printf '\n==> %s\n' "$*"; }

is_pi() { grep -qs "Raspberry Pi" /proc/device-tree/model; }

step "System packages"
if is_pi && command -v apt-get >/dev/null; then
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
# The app's own bytecode, compiled once here as pip does for packages: every start then reads it
# instead of compiling 40 modules (30 ms a start; and none is written where PYTHONDONTWRITEBYTECODE
# is set). A changed file is simply compiled again in memory.
"$VENV/bin/python" -m compileall -q classify.py video_classifier utils >/dev/null
"$VENV/bin/python" - <<'PY'
from video_classifier.model.runtime import load_runtime
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
  step "systemd service movinet@$SERVICE_NAME"
  unit=movinet@$SERVICE_NAME.service
  user=(); [[ -z $DESKTOP ]] && user=(--user "$(id -un)")
  mode=(); [[ -n $DESKTOP ]] && mode=(--desktop); [[ -n $CONSOLE ]] && mode=(--console)
  mkdir -p logs  # the user's, before the service writes logs/NAME.jsonl
  # The unit runs this venv's python, wherever VENV points.
  "${service[@]}" install "$SERVICE_NAME" "${mode[@]}" "${user[@]}" --python "$(cd "$VENV" && pwd)/bin/python" \
    -- "${SERVICE_ARGS[@]}"
  # The single unit of earlier versions would run the same camera a second time.
  old=/etc/systemd/system/movinet-actions.service; [[ -n $DESKTOP ]] && old=$HOME/.config/systemd/user/movinet-actions.service
  if [[ -f $old ]]; then
    "${ctl[@]}" disable --now movinet-actions.service
    "${as[@]}" rm "$old"
    echo "removed the old single unit $old (its flags are not carried over: give them after --)"
  fi
  "${ctl[@]}" enable "$unit"
  restart_all  # this instance too, if it was running: it reads its new flags
  "${ctl[@]}" start "$unit"
  journal="journalctl -u $unit -f"; [[ -n $DESKTOP ]] && journal="journalctl --user -u $unit -f"
  echo "started $unit; follow it with: $journal; all instances: systemctl ${DESKTOP:+--user }status 'movinet@*'"
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
