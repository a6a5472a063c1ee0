"""The CIFAR-layout ResNet in Keras 3 on the torch backend, for chapter 10's side-by-side with ``resnet_lib``.

An optional extra (``pip install resnet_lib[keras]``): ``keras`` is imported inside the functions, never when
``resnet_lib`` is imported, and only with ``KERAS_BACKEND=torch`` (no TensorFlow needed)::

    net = keras_cifar_resnet(20, in_channels=1, shortcut="B")         # resnet_lib's resnet20(shortcut="B")
    copy_torch_weights(net, rl.resnet20(in_channels=1, shortcut="B"))  # same weights -> same outputs

The layers carry ``resnet_lib``'s names with ``_`` for ``.`` (``layer2_0_conv1``, ``layer2_0_downsample_1``), and
the settings where Keras's defaults differ from PyTorch's are set to PyTorch's: BatchNorm momentum 0.9 (Keras
counts the weight of the old average, PyTorch the new batch's: 0.1) and epsilon 1e-5 (Keras: 1e-3), He-normal
``fan_out`` initialisation (Keras: Glorot-uniform), no bias in convolutions, and PyTorch's symmetric zero padding
(Keras's ``padding="same"`` pads only the bottom and right when a stride-2 window meets an even input).
"""
from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from . import limits
from .schedules import lr_at

PADDINGS = ("torch", "same")
SHORTCUTS = ("A", "B")


def _keras() -> Any:
    """Import keras on the torch backend, or say in one line why it cannot be used."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError as err:
        raise ImportError("keras is not installed: pip install 'resnet_lib[keras]' (keras>=3)") from err
    if keras.backend.backend() != "torch":
        raise ValueError(f"keras runs on the {keras.backend.backend()!r} backend: set KERAS_BACKEND=torch before "
                         "the first `import keras` (restart the kernel)")
    return keras


def keras_cifar_resnet(depth: int = 20, num_classes: int = 10, in_channels: int = 1, shortcut: str = "B",
                       padding: str = "torch", weight_decay: float = 0.0, image_size: int | None = None) -> Any:
    """He et al.'s §4.2 CIFAR ResNet (basic blocks, 16/32/64 channels) as a Keras functional model, channels-last.

    Args:
        depth: 6n + 2 (20, 32, 44, 56, 110).
        num_classes: outputs of the final dense layer (logits: no softmax).
        in_channels: 1 for Fashion-MNIST, 3 for CIFAR.
        shortcut: ``"A"`` (subsample and zero-pad the new channels) or ``"B"`` (1x1 projection + BN where the shape
            changes), as ``resnet_lib.resnet20(shortcut=...)``.
        padding: ``"torch"`` pads one pixel on every side (``ZeroPadding2D(1)``, then a ``"valid"`` convolution):
            the same arithmetic as PyTorch's ``padding=1``. ``"same"`` is Keras's ``padding="same"``, which for a
            stride-2 convolution on an even input pads only the bottom and the right.
        weight_decay: the L2 penalty of ``torch.optim.SGD(weight_decay=...)`` on the convolution and dense weights
            (as ``TrainConfig(no_decay_bn_bias=True)``): a Keras ``L2(weight_decay / 2)`` regulariser.
        image_size: height and width of the input (None: any size).
    Returns:
        An uncompiled ``keras.Model`` mapping (N, H, W, in_channels) float32 images to (N, num_classes) logits.
    Shape:
        (N, H, W, in_channels) -> (N, num_classes)
    """
    keras = _keras()
    layers = keras.layers
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 with n >= 1 (20, 32, 44, 56, 110), got {depth!r}")
    if shortcut not in SHORTCUTS:
        raise ValueError(f"shortcut must be one of {SHORTCUTS}, got {shortcut!r}")
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or weight_decay < 0:
        raise ValueError(f"weight_decay must be a non-negative float, got {weight_decay!r}")
    reg = keras.regularizers.L2(weight_decay / 2) if weight_decay else None
    he = keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")   # kaiming_normal_, fan_out

    def conv(t: Any, filters: int, kernel: int, stride: int, name: str) -> Any:
        if kernel == 3 and padding == "torch":
            t = layers.ZeroPadding2D(1, name=f"{name}_pad")(t)
        pad = "same" if kernel == 3 and padding == "same" else "valid"
        return layers.Conv2D(filters, kernel, strides=stride, padding=pad, use_bias=False, kernel_initializer=he,
                             kernel_regularizer=reg, name=name)(t)

    def bn(t: Any, name: str) -> Any:
        return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)(t)

    inputs = keras.Input((image_size, image_size, in_channels), name="images")
    x = layers.ReLU(name="relu")(bn(conv(inputs, 16, 3, 1, "conv1"), "bn1"))
    channels = 16
    for stage, width in enumerate((16, 32, 64), start=1):
        for i in range((depth - 2) // 6):
            stride = 2 if stage > 1 and i == 0 else 1
            name = f"layer{stage}_{i}"
            out = layers.ReLU(name=f"{name}_relu1")(bn(conv(x, width, 3, stride, f"{name}_conv1"), f"{name}_bn1"))
            out = bn(conv(out, width, 3, 1, f"{name}_conv2"), f"{name}_bn2")
            short = x
            if stride != 1 or channels != width:
                if shortcut == "B":
                    short = bn(conv(x, width, 1, stride, f"{name}_downsample_0"), f"{name}_downsample_1")
                else:
                    extra = width - channels
                    short = layers.Lambda(lambda t, s=stride, e=extra: keras.ops.pad(
                        t[:, ::s, ::s, :], [[0, 0], [0, 0], [0, 0], [0, e]]), name=f"{name}_shortcut_a")(x)
            x = layers.ReLU(name=f"{name}_relu2")(layers.Add(name=f"{name}_add")([out, short]))
            channels = width
    x = layers.GlobalAveragePooling2D(name="avgpool")(x)
    bound = 1 / channels ** 0.5                                  # nn.Linear's default initialisation
    uniform = keras.initializers.RandomUniform(-bound, bound)
    outputs = layers.Dense(num_classes, kernel_initializer=uniform, bias_initializer=uniform,
                           kernel_regularizer=reg, name="fc")(x)
    return keras.Model(inputs, outputs, name=f"keras_resnet{depth}")


def copy_torch_weights(keras_model: Any, torch_model: nn.Module) -> int:
    """Copy a ``resnet_lib`` CIFAR ResNet's weights and BN statistics into :func:`keras_cifar_resnet`'s model.

    Convolution kernels go from PyTorch's (out, in, kh, kw) to Keras's (kh, kw, in, out), the dense layer's
    (out, in) to (in, out); BatchNorm's weight, bias, running mean and variance become gamma, beta, moving mean and
    variance.

    Args:
        keras_model: a model from :func:`keras_cifar_resnet` of the same depth, widths and shortcut.
        torch_model: e.g. ``resnet_lib.resnet20(in_channels=1, shortcut="B")``.
    Returns:
        The number of Keras layers that received weights, an int.
    """
    state = {k: v.detach().cpu().numpy() for k, v in torch_model.state_dict().items()}
    copied, used = 0, set()
    for layer in keras_model.layers:
        if not layer.weights:
            continue
        prefix = _torch_prefix(layer.name)
        if isinstance(layer, _keras().layers.BatchNormalization):
            keys = [f"{prefix}.{k}" for k in ("weight", "bias", "running_mean", "running_var")]
            values = [state.get(k) for k in keys]
        elif layer.name == "fc":
            keys = ["fc.weight", "fc.bias"]
            values = [state["fc.weight"].T, state["fc.bias"]] if "fc.weight" in state else [None]
        else:
            keys = [f"{prefix}.weight"]
            values = [state[keys[0]].transpose(2, 3, 1, 0) if keys[0] in state else None]
        if any(v is None for v in values):
            raise ValueError(f"the torch model has no weights for Keras layer {layer.name!r} (looked for "
                             f"{', '.join(keys)}): build both with the same depth and shortcut")
        layer.set_weights(values)
        used.update(keys)
        copied += 1
    left = [k for k in state if k not in used and not k.endswith("num_batches_tracked")]
    if left:
        raise ValueError(f"torch weights with no Keras layer: {', '.join(left[:3])}: build both with the same "
                         "depth and shortcut")
    return copied


def _torch_prefix(name: str) -> str:
    """``layer2_0_downsample_1`` -> ``layer2.0.downsample.1``; ``bn1`` -> ``bn1``."""
    return ".".join(name.split("_")) if name.startswith("layer") else name


def to_nhwc(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """uint8 images (N, C, H, W), as ``DataBundle`` holds them, to normalised float32 (N, H, W, C) for Keras.

    Args:
        x: uint8 tensor (N, C, H, W).
        mean, std: per-channel statistics on the 0-1 scale (``DataBundle.mean``, ``DataBundle.std``).
    Returns:
        The normalised images ``(x / 255 - mean) / std`` as a float32 numpy array, channels last (N, H, W, C).
    """
    if x.dim() != 4:
        raise ValueError(f"x must be (N, C, H, W), got shape {tuple(x.shape)}")
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    return ((x.cpu().float() / 255 - m) / s).permute(0, 2, 3, 1).contiguous().numpy()


def keras_fit(model: Any, data: Any, *, epochs: int, batch_size: int = 128, lr: float = 0.1,
              momentum: float = 0.9, nesterov: bool = True, schedule: Any = None, seed: int = 0) -> dict[str, Any]:
    """Train a Keras model on a ``DataBundle``'s training split as ``resnet_lib.fit`` does, and test it.

    The same learning rate per step as ``fit`` (``resnet_lib.schedules.lr_at`` with the fields of ``schedule``,
    e.g. a ``TrainConfig``), the same number of steps (the final short batch dropped), SGD with momentum, integer
    labels with ``SparseCategoricalCrossentropy(from_logits=True)``, no augmentation; Keras reshuffles the images
    every epoch (when their number is not a multiple of ``batch_size``, a random remainder is left out of the
    whole run, where ``fit`` leaves out a different one each epoch). Smoke-run limits
    (:mod:`resnet_lib.limits`) cap the epochs, steps, batch size and evaluation batches as in ``fit``.

    Args:
        model: an uncompiled Keras model from (N, H, W, C) images to logits.
        data: a ``DataBundle`` (uint8 images, labels, mean, std; ``test`` split used for the accuracy).
        epochs: passes over the training split.
        batch_size: images per step.
        lr: peak learning rate (``schedule.lr`` wins when a schedule is given).
        momentum: SGD momentum.
        nesterov: Nesterov momentum.
        schedule: anything with the fields of ``resnet_lib.schedules.ScheduleConfig`` (a ``TrainConfig``);
            None: a constant ``lr``.
        seed: ``keras.utils.set_random_seed`` (initial weights of a model built afterwards, the data order).
    Returns:
        The run's results in a dict with ``train_loss`` and ``train_acc`` per epoch, ``test_acc``, ``seconds``
        (training only), ``steps`` and ``images_per_s``.
    """
    keras = _keras()
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    cap = limits.current()
    run_epochs = min(epochs, cap.epochs or epochs)
    batch_size = min(batch_size, cap.batch_size or batch_size)        # as DataBundle.loader caps fit's batches
    x, y = to_nhwc(data.x_train, data.mean, data.std), data.y_train.cpu().numpy()
    steps = len(y) // batch_size
    if steps < 1:
        raise ValueError(f"{len(y)} training images make no batch of {batch_size}")
    run_steps = min(steps, cap.train_steps or steps)
    total = steps * epochs                                        # the schedule of the whole run, as fit's

    class _Rate(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step: Any) -> float:
            return lr if schedule is None else lr_at(int(step), total, steps, schedule)

    keras.utils.set_random_seed(seed)
    opt = keras.optimizers.SGD(learning_rate=_Rate(), momentum=momentum, nesterov=nesterov)
    model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    keep = np.random.default_rng(seed).permutation(len(y))[: run_steps * batch_size]   # no short batch
    start = time.perf_counter()
    hist = model.fit(x[keep], y[keep], batch_size=batch_size, epochs=run_epochs, shuffle=True, verbose=0).history
    seconds = time.perf_counter() - start
    xt, yt = to_nhwc(data.x_test, data.mean, data.std), data.y_test.cpu().numpy()
    eval_batch = min(1024, cap.batch_size or 1024)
    n_test = len(yt) if cap.eval_batches is None else min(len(yt), cap.eval_batches * eval_batch)
    logits = model.predict(xt[:n_test], batch_size=eval_batch, verbose=0)
    return {"train_loss": hist["loss"], "train_acc": hist["accuracy"],
            "test_acc": float((np.asarray(logits).argmax(1) == yt[:n_test]).mean()), "seconds": seconds,
            "steps": run_steps * run_epochs, "images_per_s": run_steps * run_epochs * batch_size / seconds}
