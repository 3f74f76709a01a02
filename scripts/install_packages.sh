#!/usr/bin/env bash
# Installs the Debian packages named as arguments that are not installed yet (apt-get, with
# sudo when not root); does nothing when all are present. Used by setup.sh and check_hip.sh.
#   scripts/install_packages.sh LABEL PACKAGE...
set -euo pipefail
label=$1
shift
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  printf '[%s] installing Debian packages: %s\n' "$label" "${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  printf '[%s] Debian packages: all present\n' "$label"
fi
