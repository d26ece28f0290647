"""Set-up tools: model download and the systemd unit (used by setup.sh)."""
