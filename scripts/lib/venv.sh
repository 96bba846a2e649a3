# Sourced: ensure_venv VENV PIN... makes the virtual environment VENV (from $PYTHON, default
# python3) or reuses it when every NAME==VERSION pin is already installed (quiet then), and
# installs what is missing. Progress goes to stderr; fails when a pin is still missing after pip.

# True when VENV's pip lists every pin at its exact version.
venv_pins_present() {
  local venv=$1
  shift
  [[ -x "$venv/bin/python" ]] || return 1
  local have pin name ver
  have="$("$venv/bin/python" -m pip list --format=freeze 2>/dev/null | tr 'A-Z_' 'a-z-')"
  for pin in "$@"; do
    name="${pin%%==*}"
    ver="${pin##*==}"
    grep -Eq "^${name}==${ver}(\+.*)?$" <<<"$have" || return 1
  done
}

ensure_venv() {
  local venv=$1
  shift
  venv_pins_present "$venv" "$@" && return 0
  if [[ ! -x "$venv/bin/python" ]]; then
    echo "[venv] making $venv" >&2
    "${PYTHON:-python3}" -m venv "$venv"
  fi
  echo "[venv] installing $*" >&2
  "$venv/bin/python" -m pip install --quiet "$@" >&2
  venv_pins_present "$venv" "$@" || { echo "[venv] pins still missing in $venv after pip install" >&2; return 1; }
}
