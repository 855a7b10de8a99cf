"""Keras' words for what bridge.nets builds, mapped onto DL4J's: the one table of them.

A Keras hand types `Conv2D(32, kernel_size=3, strides=2, padding="same")`, `updater="adam"`,
`loss="sparse_categorical_crossentropy"` and `input_shape=(32, 32, 3)`; the builders read each of these here,
and refuse what they cannot read one way only (both spellings of one argument, an image shape that is
channels-first or channels-last depending on whom you ask), naming both words. Pure Python: no JVM.
"""

from __future__ import annotations

from dataclasses import fields

from ..errors import DataError

__all__ = [
    "ARGUMENTS",
    "PADDINGS",
    "MODE_WORDS",
    "ACTIVATIONS",
    "LOSSES",
    "UPDATERS",
    "DATA_FORMATS",
    "resolve_arguments",
    "image_layout",
]

# Keras' layer argument -> the bridge's (DL4J's) field it sets. A spec takes either spelling, never both.
ARGUMENTS = {
    "kernel_size": "kernel",  # Conv2D
    "pool_size": "kernel",  # Pool2D (Keras' MaxPooling2D / AveragePooling2D)
    "strides": "stride",
    "dilation_rate": "dilation",
    "use_bias": "bias",
    "epsilon": "eps",  # BatchNorm
    "momentum": "decay",  # BatchNorm: Keras' moving-average momentum is DL4J's decay
}

# Keras' padding word -> DL4J's ConvolutionMode (Conv2D and Pool2D take it as padding= or as mode=).
PADDINGS = {"valid": "truncate", "same": "same"}

# Keras words given as DL4J's mode=: what to say instead (they are refused there, not guessed).
MODE_WORDS = {
    "valid": "DL4J calls Keras' 'valid' 'truncate': pass mode='truncate' (or Keras' padding='valid')",
    "causal": "'causal' pads 1-d (time) convolutions only; Conv2D and Pool2D take 'truncate', 'same' or 'strict'",
}

# Keras' activation name -> DL4J's (None is Keras' default for Dense and Conv2D: no activation).
ACTIVATIONS = {
    None: "identity",
    "linear": "identity",
    "hard_sigmoid": "hardsigmoid",
    "leaky_relu": "leakyrelu",
    "silu": "swish",
}

# Loss names: DL4J's LossFunctions.LossFunction names (lower case) and the Keras names users bring.
# Keras' sparse_categorical_crossentropy takes class indices: so does every bridge classifier (fit() turns them
# into the one-hot rows DL4J's MCXENT reads).
LOSSES = {
    "mse": "MSE",
    "mean_squared_error": "MSE",
    "l2": "L2",
    "l1": "L1",
    "mae": "MEAN_ABSOLUTE_ERROR",
    "mean_absolute_error": "MEAN_ABSOLUTE_ERROR",
    "mape": "MEAN_ABSOLUTE_PERCENTAGE_ERROR",
    "mean_absolute_percentage_error": "MEAN_ABSOLUTE_PERCENTAGE_ERROR",
    "msle": "MEAN_SQUARED_LOGARITHMIC_ERROR",
    "mean_squared_logarithmic_error": "MEAN_SQUARED_LOGARITHMIC_ERROR",
    "xent": "XENT",
    "binary_crossentropy": "XENT",
    "mcxent": "MCXENT",
    "categorical_crossentropy": "MCXENT",
    "sparse_categorical_crossentropy": "MCXENT",
    "negativeloglikelihood": "NEGATIVELOGLIKELIHOOD",
    "sparse_mcxent": "SPARSE_MCXENT",
    "hinge": "HINGE",
    "squared_hinge": "SQUARED_HINGE",
    "kl_divergence": "KL_DIVERGENCE",
    "kld": "KL_DIVERGENCE",
    "kullback_leibler_divergence": "KL_DIVERGENCE",
    "poisson": "POISSON",
    "cosine_proximity": "COSINE_PROXIMITY",
    "cosine_similarity": "COSINE_PROXIMITY",
    "squared_loss": "SQUARED_LOSS",
    "wasserstein": "WASSERSTEIN",
}

# Keras' updater string -> (the bridge.nets updater class name, Keras' default learning rate). The strings take
# Keras' defaults; the classes keep DL4J's (nets.RmsProp() is 0.1, updater="rmsprop" is 0.001). DL4J's AdaDelta
# is the paper's, with no learning rate: Keras' Adadelta(learning_rate=1.0).
UPDATERS = {
    "adam": ("Adam", 1e-3),
    "sgd": ("Sgd", 1e-2),
    "rmsprop": ("RmsProp", 1e-3),
    "adagrad": ("AdaGrad", 1e-3),
    "adadelta": ("AdaDelta", None),
    "nadam": ("Nadam", 1e-3),
    "adamax": ("AdaMax", 1e-3),
    "amsgrad": ("AMSGrad", 1e-3),  # Keras: Adam(amsgrad=True)
    "nesterovs": ("Nesterovs", 1e-2),  # Keras: SGD(momentum=0.9, nesterov=True)
}

# Keras' data_format for image inputs -> DL4J's CNN2DFormat.
DATA_FORMATS = {"channels_first": "NCHW", "channels_last": "NHWC"}
_CHANNEL_COUNTS = (1, 3, 4)  # grey, RGB, RGBA: what a channels-last image's last axis usually holds


def resolve_arguments(spec, keras: dict, defaults: dict) -> None:
    """Fill a frozen spec's fields from the Keras spellings given (`keras`: {Keras name: value or None}) and the
    defaults of fields left unset (None). TypeError naming both spellings when one argument came twice."""
    for keras_name, value in keras.items():
        if value is None:
            continue
        field = ARGUMENTS[keras_name]
        if getattr(spec, field) is not None:
            raise TypeError(
                f"{type(spec).__name__}() received both `{field}` and `{keras_name}` (Keras' name for the same "
                f"argument): pass one. Received: {field}={getattr(spec, field)!r}, {keras_name}={value!r}"
            )
        object.__setattr__(spec, field, value)
    names = {f.name for f in fields(spec)}
    for field, default in defaults.items():
        if field in names and getattr(spec, field) is None:
            object.__setattr__(spec, field, default)


def resolve_padding(spec) -> None:
    """Keras' padding="same" | "valid" (a word, not pixels) as DL4J's convolution mode; mode= and a padding word
    together are refused by name."""
    padding = spec.padding
    if not isinstance(padding, str):
        if spec.mode is None:
            object.__setattr__(spec, "mode", "truncate")
        return
    word = padding.lower()
    if word not in PADDINGS:
        hint = f" ({MODE_WORDS['causal']})" if word == "causal" else ""
        raise DataError(
            f"Received an invalid value for `padding`{hint}. Received: padding={padding!r}. Expected one of: "
            f"{', '.join(PADDINGS)} (Keras' words), or pixels: an int or a pair of ints with mode=..."
        )
    if spec.mode is not None:
        raise TypeError(
            f"{type(spec).__name__}() received both `mode` and `padding` as a word (Keras' name for the mode): "
            f"pass one. Received: mode={spec.mode!r}, padding={padding!r}"
        )
    object.__setattr__(spec, "mode", PADDINGS[word])
    object.__setattr__(spec, "padding", 0)


def image_layout(shape: tuple[int, ...], data_format: str | None, argument: str) -> str:
    """ "NCHW" or "NHWC" for a 3-d image `shape` given as `argument`; refuses (DataError) a shape that reads as
    channels-last images just as well when data_format does not say which, showing both readings."""
    if data_format is not None:
        if data_format not in DATA_FORMATS:
            raise DataError(
                f"Received an invalid value for `data_format`. Received: data_format={data_format!r}. "
                f"Expected one of: {', '.join(DATA_FORMATS)}."
            )
        return DATA_FORMATS[data_format]
    first, height, last = shape
    if last in _CHANNEL_COUNTS and first > last:
        c_last = f"({last}, {first}, {height})"
        raise DataError(
            f"Received an ambiguous image shape {argument}={shape!r}: bridge.nets reads (channels, height, width), "
            f"{first} channels of {height}x{last} images, while Keras' default reads (height, width, channels), "
            f"{first}x{height} images of {last} channel{'s' if last > 1 else ''}. Say which: "
            f"data_format='channels_last' for Keras' reading (the network then takes (n, {first}, {height}, "
            f"{last}) arrays), or {argument}={c_last} (channels first), or data_format='channels_first' to keep "
            f"{shape!r} as channels first."
        )
    return "NCHW"
