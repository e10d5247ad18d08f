"""Options in files: the TOML of ``impasto --config`` and what a PNG impasto made carries of the run
that made it (written by :func:`to_png_text`, read by :func:`from_png`)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from PIL import Image

from impasto._version import __version__
from impasto.config.fields import StyleConfig
from impasto.config.table import BY_NAME
from impasto.config.values import read_value
from impasto.errors import ConfigError, ImpastoError

# Options that change how a run is carried out or what it refuses, never the image it makes: left out
# of the look's key (a batch's or a video's record of what made an output).
EXECUTION_OPTIONS = frozenset({"device", "compile", "max_memory", "max_pixels", "max_upscale"})


def look_options(config: StyleConfig) -> dict[str, Any]:
    """The options that shape the image, as plain JSON values (tuples as lists, paths as text)."""
    values = {
        f.name: str(value) if isinstance(value := getattr(config, f.name), Path) else value
        for f in fields(config)
        if f.name not in EXECUTION_OPTIONS
    }
    plain: dict[str, Any] = json.loads(json.dumps(values, default=str))
    return plain


def to_toml(config: StyleConfig) -> str:
    """The options of ``config`` that differ from the defaults, as a TOML document that
    :func:`from_toml` (and ``impasto --config``) reads back into the same config. Mask images given
    as PIL images (not files) cannot be written and are refused."""
    defaults = StyleConfig()
    lines = ["# impasto options (impasto --config FILE); anything left out takes its default"]
    for f in fields(StyleConfig):
        value = getattr(config, f.name)
        if value == getattr(defaults, f.name) or value is None:
            continue
        lines.append(f"{f.name} = {_toml_value(f.name, value)}")
    return "\n".join(lines) + "\n"


def to_png_text(
    config: StyleConfig,
    content: str | os.PathLike[str] | None = None,
    styles: Sequence[str | os.PathLike[str]] = (),
    ended: str | None = None,
) -> str | None:
    """What a picture impasto writes carries of the run that made it (``images.save(…, options=…)``;
    every format, despite the name): :func:`to_toml`'s text, with a comment that names the impasto
    version and the images (their names only: a picture that is shared tells no folder) with the
    sha256 of each file that can be read, and one that says how the run ended when it ended early
    (``ended``: "stopped after 12 iterations"). None where the options cannot be written as TOML (a
    mask given in memory, a path that is not Unicode): the picture is then saved without them."""

    try:
        text = to_toml(config)
    except ConfigError:
        return None
    made = f"# made by impasto {__version__}"
    if content is not None:
        made += f" from {_comment_name(content)}"
    if styles:
        made += " in the style of " + ", ".join(_comment_name(style) for style in styles)
    for path in (content, *styles):  # which files exactly, for whoever has several of one name
        digest = None if path is None else _sha256(path)
        if path is not None and digest is not None:
            made += f"\n# sha256 of {_comment_name(path)}: {digest}"
    if ended is not None:
        made += f"\n# the run ended early ({_comment_text(ended)}): this is the best image it had"
    first, rest = text.split("\n", 1)
    return f"{first}\n{made}\n{rest}"


def _sha256(path: str | os.PathLike[str]) -> str | None:
    """The sha256 of the file at ``path``, or None where there is none to read (a name only)."""
    from impasto.io import files

    try:
        return files.sha256(path) if Path(path).is_file() else None
    except OSError:
        return None


def _comment_text(text: str) -> str:
    """``text`` fit for a TOML comment: on one line, without control characters."""
    return "".join(c if c.isprintable() else " " for c in text)


def _comment_name(path: str | os.PathLike[str]) -> str:
    """The name of ``path`` quoted for a TOML comment (no control characters; what is not Unicode
    becomes "?")."""
    name = Path(path).name or str(path)
    return _toml_string("name", name.encode("utf-8", "replace").decode())


def _toml_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # the shortest text that reads back as the same number
    if isinstance(value, str | Path):
        return _toml_string(name, str(value))
    if name.endswith("_layers"):  # ((layer, weight), …) → "relu1_1,relu2_1:0.5", as --style-layers
        text = ",".join(layer if weight == 1 else f"{layer}:{weight!r}" for layer, weight in value)
        return _toml_string(name, text)
    if isinstance(value, tuple):
        if any(isinstance(item, Image.Image) for item in value):
            raise ConfigError(f"{name}: images given in memory cannot be saved to a file; give paths")
        return "[" + ", ".join(_toml_value(name, item) for item in value) + "]"
    raise ConfigError(f"{name}: cannot write {value!r} to TOML")


def _toml_string(name: str, text: str) -> str:
    """``text`` as a TOML basic string: quotes, backslashes and control characters escaped."""
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):  # a file name that is not Unicode
        raise ConfigError(f"{name}: {text!r} cannot be written to TOML (not Unicode text)")
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in escaped)
    return f'"{escaped}"'


# A file larger than this is no options file (one is a few hundred bytes): it is not read into memory.
MAX_CONFIG_BYTES = 2**20


def from_toml(path: str | Path, base: StyleConfig | None = None) -> StyleConfig:
    """``base`` (default: the defaults) with the options of the TOML file at ``path``, or of the PNG
    impasto made there (a PNG, JPEG, WebP or TIFF, which carries them; told by its first bytes,
    whatever its name); keys are
    StyleConfig's field names (``style_weight`` or ``style-weight``).

    Each value must have the TOML type its field takes (true or false, a whole number, a number,
    a string, an array of them: never the text "false" for false, nor "1" for 1), then passes the
    checks every option passes, from the command line or the API. Every problem is a ConfigError of
    one line that names the file, and the key where there is one."""
    return _from_table(path, _read_toml(Path(path)), base)


def from_png(path: str | Path, base: StyleConfig | None = None) -> StyleConfig:
    """``base`` (default: the defaults) with the options that made the PNG at ``path``: the TOML that
    :func:`to_png_text` wrote into it (``impasto --config out.png``). A PNG without them, a damaged one
    or a file that is no PNG is a ConfigError of one line that names the file."""
    from impasto.io.images import PNG_SIGNATURE

    path = Path(path)
    if not _read_head(path, len(PNG_SIGNATURE)).startswith(PNG_SIGNATURE):
        raise ConfigError(f"{path} is not a PNG")
    return _from_table(path, _picture_table(path), base)


def _from_table(path: str | Path, table: dict[str, Any], base: StyleConfig | None) -> StyleConfig:
    options: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name in options:
            raise ConfigError(f"{path}: {name} is given twice")
        options[name] = value
    try:
        for name, value in options.items():
            if name in BY_NAME:  # an unknown name is with_options' to refuse, with a suggestion
                options[name] = read_value(BY_NAME[name], value)
        return (base or StyleConfig()).with_options(**options)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


# The first bytes of the other formats impasto writes (they carry the options since 2.1).
_OTHER_IMAGES = {b"\xff\xd8\xff": "a JPEG", b"II*\x00": "a TIFF", b"MM\x00*": "a TIFF", b"RIFF": "a WebP"}


def _read_toml(path: Path) -> dict[str, Any]:
    from impasto.io.images import PNG_SIGNATURE

    data = _read_head(path, MAX_CONFIG_BYTES + 1)  # a bound: --config /dev/zero must not fill memory
    if data.startswith(PNG_SIGNATURE):
        return _picture_table(path)
    for signature, kind in _OTHER_IMAGES.items():
        if data.startswith(signature) and (kind != "a WebP" or data[8:12] == b"WEBP"):
            return _picture_table(path, since="2.1")
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path} is not an options file: over {MAX_CONFIG_BYTES // 2**20} MiB")
    try:
        text = data.decode("utf-8-sig")  # an editor's byte-order mark is no error
    except UnicodeDecodeError as error:
        where = f"byte 0x{data[error.start]:02x} at offset {error.start}"
        raise ConfigError(f"{path} is not valid TOML: not UTF-8 text ({where})") from None
    return _parse_toml(text, f"{path} is not valid TOML")


def _read_head(path: Path, limit: int) -> bytes:
    """The first ``limit`` bytes of the file at ``path`` (all of a shorter one)."""
    try:
        with open(path, "rb") as file:
            return file.read(limit)
    except OSError as error:
        raise ConfigError(f"cannot read the config file {path}: {error.strerror or error}") from None


def _picture_table(path: Path, since: str = "1.4") -> dict[str, Any]:
    """The options in the picture at ``path`` (io.images.read_options: a PNG, a JPEG, a WebP or a
    TIFF), parsed, within the bound of an options file; a ConfigError of one line for a picture
    without them (its format carries them ``since`` that impasto) or one that cannot be read."""
    from impasto.io.images import read_options

    try:
        text = read_options(path)
    except ImpastoError as error:
        raise ConfigError(str(error)) from None
    if text is None:
        raise ConfigError(
            f"{path} holds no impasto options "
            f"(it was not made by impasto ≥ {since}, or its metadata was stripped)"
        )
    if len(text.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path} holds impasto options over {MAX_CONFIG_BYTES // 2**20} MiB: not impasto's")
    table = _parse_toml(text, f"{path} holds impasto options that are not valid TOML")
    given = {key.replace("-", "_") for key in table}
    return {**{k: v for k, v in _defaults_when_made(text).items() if k not in given}, **table}


# Defaults a version changed, with the value they had before it. A PNG names the version that made it
# and leaves its defaults out, so one made before the change is made again with the default it had.
_CHANGED_DEFAULTS = {(2, 0): {"style_loss": "nearest"}}


def _defaults_when_made(text: str) -> dict[str, Any]:
    """The options whose default has changed since the impasto version the PNG ``text`` names (its
    "# made by impasto X.Y.Z" line), at the default they had then; none where it names no version."""
    made = re.search(r"^# made by impasto (\d+)\.(\d+)", text, re.MULTILINE)
    if made is None:
        return {}
    version = (int(made[1]), int(made[2]))
    older: dict[str, Any] = {}
    for changed_in, before in sorted(_CHANGED_DEFAULTS.items(), reverse=True):
        if version < changed_in:
            older.update(before)  # the oldest change last: its value is the one the PNG had
    return older


def _parse_toml(text: str, failure: str) -> dict[str, Any]:
    """``text`` parsed as TOML; a ConfigError that begins with ``failure`` (naming the file) if it is
    not."""
    import tomllib

    try:
        return tomllib.loads(text)
    except RecursionError:  # arrays or tables nested thousands deep
        raise ConfigError(f"{failure}: nested too deeply") from None
    except ValueError as error:  # TOMLDecodeError, or an integer of thousands of digits
        raise ConfigError(f"{failure}: {error}") from None
