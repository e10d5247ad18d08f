"""impasto.config.files: options in TOML files and in the pictures impasto makes. (Not test_files.py:
tests/io has one, and pytest takes test modules by their names.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from impasto.config import StyleConfig
from impasto.errors import ConfigError
from impasto.io import images


def _png(path: Path, options: str | None) -> Path:
    from PIL import Image

    from impasto.io import images

    return images.save(Image.new("RGB", (8, 6), (90, 60, 30)), path, options=options)


def test_a_config_survives_a_round_trip_through_toml(tmp_path: Path) -> None:
    from impasto.config import from_toml, to_toml

    config = StyleConfig(
        size=512,
        style_weight=12.5,
        multiscale=False,
        style_layers=(("relu1_1", 1.0), ("relu2_1", 0.5), ("relu3_1", 1.0)),
        style_blend=(1.0, 3.0),
        preserve_colors="luminance",
        content_masks=(tmp_path / "a mask.png",),
        weights=tmp_path / 'odd "name".pth',
        device="cuda:1",
        init="noise",
    )
    text = to_toml(config)
    assert "style_weight = 12.5" in text and "size = 512" in text
    assert "tv_weight" not in text  # defaults are left out
    (tmp_path / "run.toml").write_text(text)
    assert from_toml(tmp_path / "run.toml") == config


def test_a_bad_config_file_says_what_and_where(tmp_path: Path) -> None:
    from impasto.config import from_toml

    bad = tmp_path / "bad.toml"
    bad.write_text("style_wieght = 3\n")
    with pytest.raises(
        ConfigError, match=r"bad\.toml: unknown option 'style_wieght'; did you mean style_weight\?"
    ):
        from_toml(bad)
    bad.write_text("size = [\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        from_toml(bad)
    with pytest.raises(ConfigError, match="cannot read the config file"):
        from_toml(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("style_blend = 5", "style_blend must be an array of numbers, got 5"),
        ('style_blend = [1, "2"]', "style_blend must be an array of numbers"),
        ('learning_rate = "1"', 'learning_rate must be a number, got "1"'),
        ("content_layers = 5", "content_layers must be a string like"),
        ('style_layers = [["relu1_1", "x"]]', "style_layers must be a string like"),
        ("init = 5", "init must be a string, got 5"),
        ("model = {name = 'vgg16'}", 'model must be one of "vgg16", "vgg19", "vgg19-torchvision"'),
        ('multiscale = "false"', 'multiscale must be true or false, got "false"'),
        ("multiscale = 0", "multiscale must be true or false, got 0"),
        ("size = 512.0", "size must be a whole number, got 512.0"),
        ("size = 1e400", "size must be a whole number, got inf"),
        ("iterations = true", "iterations must be a whole number, got true"),
        ("style_weight = true", "style_weight must be a number, got true"),
        ("style_weight = nan", "style_weight must be a finite number"),
        ("content_weight = -inf", "content_weight must be a finite number"),
        ("seed = 1979-05-27", "seed must be a whole number, got datetime.date(1979, 5, 27)"),
        ('content_masks = "mask.png"', "content_masks must be an array of strings"),
        ("weights = ['a.pth']", "weights must be a string"),
        ("max_memory = true", "max_memory must be a whole number or a string, got true"),
        ("style_weight = 3\nstyle-weight = 4", "style_weight is given twice"),
    ],
)
def test_a_config_file_gives_each_option_in_its_own_type(tmp_path: Path, text: str, message: str) -> None:
    """As strict as the flags: a value of another TOML type is refused in one line naming the key
    (before, most of these raised a TypeError deep in the checks, and "false" read as true)."""
    from impasto.config import from_toml

    path = tmp_path / "run.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as error:
        from_toml(path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_config_file_may_give_the_command_lines_forms(tmp_path: Path) -> None:
    from impasto.config import from_toml

    path = tmp_path / "run.toml"
    path.write_text(
        'max-memory = "2GB"\nstyle_layers = ["relu1_1", ["relu2_1", 2]]\ncontent_layers = {relu4_2 = 1}\n'
        "style_weight = 5\n"
    )
    config = from_toml(path)
    assert config.max_memory == 2 * 2**30 and config.style_weight == 5.0
    assert config.style_layers == (("relu1_1", 1.0), ("relu2_1", 2.0))
    assert config.content_layers == (("relu4_2", 1.0),)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"size = 64 # \xff\n", r"not UTF-8 text \(byte 0xff at offset 12\)"),
        (b"size = " + b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"a = " + b"{b = " * 100_000 + b"1" + b"}" * 100_000, "nested too deeply"),
        (b"seed = " + b"9" * 5000, "is not valid TOML: Exceeds the limit"),
        (b"# " + b"x" * 2**21, "is not an options file: over 1 MiB"),
    ],
)
def test_a_file_that_is_no_options_file_is_one_line(tmp_path: Path, data: bytes, message: str) -> None:
    from impasto.config import from_toml

    path = tmp_path / "run.toml"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match=message) as error:
        from_toml(path)
    assert "\n" not in str(error.value)


def test_every_option_survives_a_round_trip_through_toml(tmp_path: Path) -> None:
    """Each field at a value other than its default, with the strings and numbers TOML makes hard
    (quotes, backslashes, a newline in a file name, weights with many digits): written and read back,
    the same config."""
    from dataclasses import fields

    from impasto.config import from_toml, to_toml

    start = tmp_path / 'start "1".png'
    start.write_bytes(b"")
    config = StyleConfig(
        size=512,
        iterations=7,
        multiscale=False,
        base_size=128,
        scale_step=1.5,
        iteration_decay=0.25,
        content_weight=2.5,
        style_weight=0.1234567891234,
        tv_weight=1e-05,
        style_loss="gram",
        content_layers=(("relu3_2", 0.333333333333),),
        style_layers=(("relu1_1", 1.0), ("relu2_1", 0.1234567891), ("relu3_1", 2.0)),
        style_scale=1.25,
        style_blend=(1.0, 3.141592653589793),
        preserve_colors="histogram",
        color_match="pca",
        content_masks=(tmp_path / "a mask.png", tmp_path / "new\nline.png"),
        style_masks=(tmp_path / "back\\slash.png", tmp_path / "b.png"),
        init=str(start),
        optimizer="adam",
        learning_rate=0.05,
        model="vgg16",
        weights=tmp_path / "odd\ttab\u00e9.pth",
        preprocessing="caffe",
        pooling="avg",
        device="cuda:1",
        precision="bf16",
        compile="off",
        seed=2**63 - 1,
        max_memory=3 * 2**30,
        max_pixels=10**6,
        max_upscale=2.5,
    )
    defaults = StyleConfig()
    assert [f.name for f in fields(config) if getattr(config, f.name) == getattr(defaults, f.name)] == []
    path = tmp_path / "run.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    assert from_toml(path) == config
    assert to_toml(from_toml(path)) == to_toml(config)


@pytest.mark.parametrize(
    ("made", "options", "style_loss"),
    [
        ('# made by impasto 1.6.0 from "a.jpg"\n', "", "nearest"),  # 1.6's default, left out
        ("# made by impasto 1.6.0\n", 'style_loss = "gram"\n', "gram"),
        ("# made by impasto 1.6.0\n", 'style-loss = "gram"\n', "gram"),
        ("# made by impasto 2.0.0\n", "", "neighbours"),
        ("", "", "neighbours"),  # no version named: today's defaults
    ],
)
def test_a_png_made_before_a_default_changed_is_made_again_with_the_old_default(
    tmp_path: Path, made: str, options: str, style_loss: str
) -> None:
    from impasto.config import from_png

    text = f"# impasto options (impasto --config FILE); anything left out takes its default\n{made}{options}"
    assert from_png(_png(tmp_path / "old.png", text)).style_loss == style_loss


def test_a_png_gives_back_the_options_that_made_it(tmp_path: Path) -> None:
    """to_png_text is what --save-config writes and one comment more (the version and the images'
    names, never their folders); from_png, and from_toml (told a PNG by its bytes), read it back."""
    from impasto import __version__
    from impasto.config import from_png, from_toml, to_png_text, to_toml

    config = StyleConfig(
        size=48,
        iterations=1,
        style_weight=7.0,
        preserve_colors="luminance",
        device="cpu",
        style_layers=(("relu1_1", 1.0), ("relu2_1", 0.5)),
        content_masks=(tmp_path / "mask ü.png",),
        init="example:chelsea",
    )
    text = to_png_text(config, tmp_path / "photo.jpg", ["example:swirls.png", "/far/away/b\nad.png"])
    assert text is not None
    lines, saved = text.splitlines(), to_toml(config).splitlines()
    assert lines[0] == saved[0] and lines[2:] == saved[1:]
    assert lines[1] == (
        f'# made by impasto {__version__} from "photo.jpg" in the style of "example:swirls.png", '
        '"b\\u000aad.png"'
    )
    png = _png(tmp_path / "out.png", text)
    assert from_png(png) == config and from_toml(png) == config
    named_otherwise = png.rename(tmp_path / "out.toml")  # a PNG is told by its bytes, not its name
    assert from_toml(named_otherwise) == config
    assert from_png(named_otherwise, base=StyleConfig(seed=9)) == config.with_options(seed=9)
    assert to_png_text(StyleConfig()) == to_toml(StyleConfig()).replace(
        "default\n", f"default\n# made by impasto {__version__}\n"
    )


def test_options_a_png_cannot_hold_leave_it_without_them() -> None:
    from PIL import Image

    from impasto.config import to_png_text

    assert to_png_text(StyleConfig(content_masks=(Image.new("L", (4, 4)),))) is None


def test_a_png_without_options_or_a_damaged_one_is_one_line(tmp_path: Path) -> None:
    from impasto.config import MAX_CONFIG_BYTES, from_png, from_toml

    plain = _png(tmp_path / "plain.png", None)
    for read in (from_png, from_toml):
        with pytest.raises(ConfigError) as error:
            read(plain)
        assert str(error.value) == (
            f"{plain} holds no impasto options (it was not made by impasto ≥ 1.4, or its metadata was "
            "stripped)"
        )
    good = _png(tmp_path / "good.png", "size = 48\n").read_bytes()
    flipped = bytearray(good)
    flipped[good.index(b"size = 48")] ^= 0x01  # the chunk's checksum no longer matches
    cases = {
        "flipped.png": (bytes(flipped), "cannot read the image, it is truncated or corrupt"),
        "cut.png": (good[: good.index(b"size = 48")], "cannot read the image"),
        "not-toml.png": (_png(tmp_path / "x.png", "size = [\n").read_bytes(), "are not valid TOML"),
        "huge.png": (_png(tmp_path / "y.png", "#" * (MAX_CONFIG_BYTES + 1)).read_bytes(), "over 1 MiB"),
        "bad-value.png": (_png(tmp_path / "z.png", "size = true\n").read_bytes(), "size must be"),
    }
    for name, (data, words) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ConfigError) as error:
            from_toml(path)
        message = str(error.value)
        assert "\n" not in message and message.startswith(str(path)) and words in message, (name, message)
    (tmp_path / "options.toml").write_text("size = 48\n")
    with pytest.raises(ConfigError, match=r"options\.toml is not a PNG$"):
        from_png(tmp_path / "options.toml")


@pytest.mark.parametrize("suffix", [".jpg", ".webp", ".tif"])
def test_every_format_carries_the_options_that_made_it(tmp_path: Path, suffix: str) -> None:
    """A JPEG, WebP or TIFF impasto wrote carries its options as a PNG does (a batch of holiday JPEGs
    remembers how it was made), names with any Unicode in them too; one without them says so."""
    from impasto.config import from_toml, to_png_text

    config = StyleConfig(size=48, style_weight=7.5, style_loss="gram", seed=3)
    text = to_png_text(config, "/photos/café ☕.jpg", ["/art/Schrei 👹.jpg"])
    assert text is not None
    path = _png(tmp_path / f"out{suffix}", text)
    assert images.read_options(path) == text and from_toml(path) == config
    plain = _png(tmp_path / f"plain{suffix}", None)
    with pytest.raises(ConfigError) as error:
        from_toml(plain)
    assert str(error.value) == (
        f"{plain} holds no impasto options (it was not made by impasto ≥ 2.1, or its metadata was stripped)"
    )
    # Another program's comment in the same field is not taken for impasto's options.
    other = _png(tmp_path / f"other{suffix}", "a holiday, 2026\n")
    assert images.read_options(other) is None
