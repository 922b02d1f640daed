"""Train, prune and quantise the digits CNN that ships in ``golden/data/digits/``.

A small CNN on scikit-learn's handwritten digits (``load_digits``: 1797 real 8x8 scans, pixel
values 0..16): three 3x3 convolutions with a skip connection (``skip = conv1 + conv3``), a 2x2 max
pooling, a fourth 3x3 convolution, a global 4x4 average pooling and a fully connected classifier.
It is trained in float64 with NumPy alone (hand-written forward and backward passes, Adam, images
shifted by up to a pixel), magnitude-pruned layer by layer in steps to :data:`SPARSITY` with
fine-tuning after each step, then quantised to the project's 8-bit numerics: int8 weights per
output channel, int8 activations per tensor, and each convolution's and the classifier's
requantisation as the POU's ``bias``, ``mult`` and ``shift`` (``golden/numerics.py``). The int8
network is then run by the golden model (:mod:`isosceles.golden.digits`) to measure its accuracy.

It writes the workload file ``digits_cnn.toml``, one ``.npz`` per layer with weights (``conv1``
also holds test image 0 as the workload's input) and POU parameters, and ``test.npz`` (the test
split: ``images`` int8 [N, 8, 8, 1] at the input's scale, which is the raw pixel value, and
``labels``). Everything follows from :data:`SEED`: the same machine writes the same bytes.

Needs the ``train`` extra (``pip install -e '.[train]'``: scikit-learn, for the data set)::

    python scripts/train_digits.py                 # writes golden/data/digits/, a few minutes
    python scripts/train_digits.py --out /tmp/d    # elsewhere, to compare
"""

import argparse
import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np

from isosceles.golden.numerics import DEFAULT_NUMERICS
from isosceles.golden.pou import PouParams

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "golden" / "data" / "digits"
SEED = 0
TEST_FRACTION = 0.2
SPARSITY = 0.8           # at least this fraction of every conv and fc layer's weights is zero
PRUNE_STEPS = (0.5, 0.7, SPARSITY)
EPOCHS = 20              # dense training
FINE_TUNE_EPOCHS = 10    # after each pruning step
BATCH = 32
PIXEL_MAX = 16           # load_digits pixels are integers 0..16: the int8 input is the pixel
ACC_HEADROOM = 0.5       # a channel's largest training accumulation stays below this * acc max
# The activation value that maps to the largest int8, as a percentile of the tensor's magnitudes
# on the training split: of 100, 99.99, 99.9 and 99.5, 99.9 gave the best training accuracy.
CALIBRATION_PERCENTILE = 99.9

# The network, in the workload file's terms (workloads/README.md); the first layer reads the image.
ARCHITECTURE = (
    {"name": "conv1", "type": "conv", "input": [8, 8, 1], "kernel": 3, "out_channels": 16,
     "padding": 1},
    {"name": "conv2", "type": "conv", "input": "conv1", "kernel": 3, "out_channels": 32,
     "padding": 1},
    {"name": "conv3", "type": "conv", "input": "conv2", "kernel": 3, "out_channels": 16,
     "padding": 1},
    {"name": "skip", "type": "add", "input": ["conv1", "conv3"]},
    {"name": "pool", "type": "maxpool", "input": "skip", "kernel": 2, "stride": 2},
    {"name": "conv4", "type": "conv", "input": "pool", "kernel": 3, "out_channels": 32,
     "padding": 1},
    {"name": "average", "type": "avgpool", "input": "conv4", "kernel": 4},
    {"name": "fc", "type": "fc", "input": "average", "out_channels": 10, "relu": False},
)
WEIGHTED = ("conv", "fc")
POOLS = ("maxpool", "avgpool")


# --- Data ----------------------------------------------------------------------------------------

def load_split(seed=SEED):
    """``(train_images, train_labels, test_images, test_labels)``: images uint8 [N, 8, 8, 1]
    (pixels 0..16), a seeded permutation split :data:`TEST_FRACTION` for test."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.uint8)[..., None]
    labels = digits.target.astype(np.uint8)
    order = np.random.default_rng(seed).permutation(len(labels))
    test = order[:round(TEST_FRACTION * len(labels))]
    train = np.sort(order[len(test):])
    test = np.sort(test)
    return images[train], labels[train], images[test], labels[test]


# --- The float network ---------------------------------------------------------------------------

def _shapes():
    """``{name: (H, W, C)}`` of every layer's output, and the input's."""
    shapes = {}
    for layer in ARCHITECTURE:
        source = layer["input"]
        if isinstance(source, list) and isinstance(source[0], int):
            shapes["input"] = tuple(source)
            source = "input"
        H, W, C = shapes[source if isinstance(source, str) else source[0]]
        if layer["type"] == "conv":
            k, s, p = layer["kernel"], layer.get("stride", 1), layer.get("padding", 0)
            shapes[layer["name"]] = ((H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1,
                                     layer["out_channels"])
        elif layer["type"] in POOLS:
            k, s = layer["kernel"], layer.get("stride", layer["kernel"])
            shapes[layer["name"]] = ((H - k) // s + 1, (W - k) // s + 1, C)
        elif layer["type"] == "fc":
            shapes[layer["name"]] = (1, 1, layer["out_channels"])
        else:
            shapes[layer["name"]] = (H, W, C)
    return shapes


def _sources(layer):
    source = layer["input"]
    if isinstance(source, str):
        return (source,)
    return tuple(source) if isinstance(source[0], str) else ("input",)


def init_params(rng):
    """He-initialised float weights: conv ``[R, S, C, K]``, fc ``[H*W*C, K]``; zero biases."""
    shapes, params = _shapes(), {}
    for layer in ARCHITECTURE:
        if layer["type"] not in WEIGHTED:
            continue
        H, W, C = shapes[_sources(layer)[0]]
        K = layer["out_channels"]
        shape = ((layer["kernel"], layer["kernel"], C, K) if layer["type"] == "conv"
                 else (H * W * C, K))
        fan_in = int(np.prod(shape[:-1]))
        params[layer["name"]] = {"w": rng.standard_normal(shape) * np.sqrt(2 / fan_in),
                                 "b": np.zeros(K)}
    return params


def _windows(x, k, stride, padding):
    """Patches [N, P, Q, R, S, C] of ``x`` [N, H, W, C]."""
    x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    view = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))  # [N,P',Q',C,R,S]
    return view[:, ::stride, ::stride].transpose(0, 1, 2, 4, 5, 3)


def forward(params, x, *, keep=False):
    """Every layer's float output by name (``input`` is ``x`` [N, 8, 8, 1] scaled to 0..1);
    with ``keep``, also what :func:`backward` needs."""
    values, caches = {"input": x}, {}
    for layer in ARCHITECTURE:
        name, kind = layer["name"], layer["type"]
        inputs = [values[s] for s in _sources(layer)]
        if kind == "conv":
            k, s, p = layer["kernel"], layer.get("stride", 1), layer.get("padding", 0)
            cols = _windows(inputs[0], k, s, p)
            w = params[name]["w"]
            y = np.tensordot(cols, w, axes=([3, 4, 5], [0, 1, 2])) + params[name]["b"]
            caches[name] = (cols, inputs[0].shape)
        elif kind == "fc":
            flat = inputs[0].reshape(len(x), -1)
            y = (flat @ params[name]["w"] + params[name]["b"])[:, None, None, :]
            caches[name] = (flat, inputs[0].shape)
        elif kind in POOLS:
            cols = _windows(inputs[0], layer["kernel"], layer.get("stride", layer["kernel"]), 0)
            y = cols.max(axis=(3, 4)) if kind == "maxpool" else cols.mean(axis=(3, 4))
            caches[name] = (cols, inputs[0].shape)
        else:
            y = inputs[0] + inputs[1]
        if kind in WEIGHTED and layer.get("relu", True):
            y = np.maximum(y, 0)
        values[name] = y
    return (values, caches) if keep else values


def backward(params, values, caches, grad_logits):
    """Gradients ``{name: {"w", "b"}}`` of the loss whose gradient at the logits is given."""
    grads, upstream = {}, {ARCHITECTURE[-1]["name"]: grad_logits}
    for layer in reversed(ARCHITECTURE):
        name, kind = layer["name"], layer["type"]
        g = upstream.pop(name)
        if kind in WEIGHTED and layer.get("relu", True):
            g = g * (values[name] > 0)
        sources = _sources(layer)
        if kind == "conv":
            cols, shape = caches[name]
            k, s, p = layer["kernel"], layer.get("stride", 1), layer.get("padding", 0)
            grads[name] = {"w": np.tensordot(cols, g, axes=([0, 1, 2], [0, 1, 2])),
                           "b": g.sum(axis=(0, 1, 2))}
            dcols = np.tensordot(g, params[name]["w"], axes=([3], [3]))  # [N,P,Q,R,S,C]
            dx = np.zeros((shape[0], shape[1] + 2 * p, shape[2] + 2 * p, shape[3]))
            P, Q = g.shape[1:3]
            for r in range(k):
                for c in range(k):
                    dx[:, r:r + s * P:s, c:c + s * Q:s] += dcols[:, :, :, r, c]
            grad_inputs = [dx[:, p:p + shape[1], p:p + shape[2]]]
        elif kind == "fc":
            flat, shape = caches[name]
            g = g[:, 0, 0]
            grads[name] = {"w": flat.T @ g, "b": g.sum(axis=0)}
            grad_inputs = [(g @ params[name]["w"].T).reshape(shape)]
        elif kind in POOLS:
            cols, shape = caches[name]
            k, s = layer["kernel"], layer.get("stride", layer["kernel"])
            # Max pooling: the gradient goes to the first maximum of each window.
            flat = cols.reshape(*cols.shape[:3], -1, cols.shape[-1])
            first = flat.argmax(axis=3)
            dx = np.zeros(shape)
            P, Q = g.shape[1:3]
            for index in range(k * k):
                r, c = divmod(index, k)
                share = g * (first == index) if kind == "maxpool" else g / (k * k)
                dx[:, r:r + s * P:s, c:c + s * Q:s] += share
            grad_inputs = [dx]
        else:
            grad_inputs = [g, g]
        for source, grad in zip(sources, grad_inputs, strict=True):
            if source != "input":
                upstream[source] = upstream.get(source, 0) + grad
    return grads


def _loss_grad(logits, labels):
    """Softmax cross-entropy: its gradient at ``logits`` [N, 10], averaged over the batch."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    p[np.arange(len(labels)), labels] -= 1
    return p / len(labels)


def float_accuracy(params, images, labels):
    logits = forward(params, images / PIXEL_MAX)[ARCHITECTURE[-1]["name"]][:, 0, 0]
    return float((logits.argmax(axis=1) == labels).mean())


class Adam:
    def __init__(self, params, lr):
        self.lr, self.t = lr, 0
        self.m = {n: {k: np.zeros_like(v) for k, v in p.items()} for n, p in params.items()}
        self.v = {n: {k: np.zeros_like(v) for k, v in p.items()} for n, p in params.items()}

    def step(self, params, grads, masks):
        self.t += 1
        for name, layer in params.items():
            for key, value in layer.items():
                g = grads[name][key]
                self.m[name][key] = 0.9 * self.m[name][key] + 0.1 * g
                self.v[name][key] = 0.999 * self.v[name][key] + 0.001 * g * g
                m = self.m[name][key] / (1 - 0.9 ** self.t)
                v = self.v[name][key] / (1 - 0.999 ** self.t)
                value -= self.lr * m / (np.sqrt(v) + 1e-8)
            layer["w"] *= masks[name]


def shifted(x, rng):
    """Each image of ``x`` [N, H, W, C] moved by -1, 0 or 1 pixel in each direction, zero-filled:
    the augmentation that keeps the pruned network general on so few images."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    dy, dx = rng.integers(0, 3, (2, len(x)))
    H, W = x.shape[1:3]
    return np.stack([padded[n, dy[n]:dy[n] + H, dx[n]:dx[n] + W] for n in range(len(x))])


def train(params, masks, images, labels, epochs, lr, rng):
    """Adam on shuffled, shifted mini-batches, a cosine learning rate; pruned weights stay
    zero."""
    optimizer = Adam(params, lr)
    x = images / PIXEL_MAX
    for epoch in range(epochs):
        optimizer.lr = lr * 0.5 * (1 + np.cos(np.pi * epoch / epochs))
        order = rng.permutation(len(labels))
        for start in range(0, len(order), BATCH):
            batch = order[start:start + BATCH]
            values, caches = forward(params, shifted(x[batch], rng), keep=True)
            logits = values[ARCHITECTURE[-1]["name"]][:, 0, 0]
            grad = _loss_grad(logits, labels[batch])[:, None, None, :]
            optimizer.step(params, backward(params, values, caches, grad), masks)


def prune(params, masks, sparsity):
    """Zero the smallest-magnitude weights of every layer until ``sparsity`` of them are zero."""
    for name, layer in params.items():
        w = layer["w"]
        keep = int(w.size * (1 - sparsity))
        order = np.argsort(np.abs(w), axis=None, kind="stable")
        mask = np.zeros(w.size)
        mask[order[w.size - keep:]] = 1
        masks[name] = mask.reshape(w.shape)
        w *= masks[name]


# --- Quantisation --------------------------------------------------------------------------------

def requant_params(scale, bias, *, relu, numerics=DEFAULT_NUMERICS):
    """The POU's parameters for accumulations of scale ``scale`` [K] (float per unit) to an
    output scale of 1: ``mult / 2**shift ~ scale`` with the largest ``shift`` whose ``mult``
    fits, and ``bias`` (float, in output units) in accumulation units."""
    top_mult, top_shift = numerics.mult_range[1], numerics.shift_range[1]
    shift = np.clip(np.floor(np.log2(top_mult / scale)), 0, top_shift).astype(np.int64)
    mult = np.rint(scale * np.exp2(shift)).astype(np.int64)
    if mult.max() > top_mult or mult.min() < 1:
        raise ValueError(f"requantisation scales {scale.min():.3g}..{scale.max():.3g} do not fit "
                         f"{numerics.mult_bits}-bit multipliers")
    bias = np.clip(np.rint(bias / scale), *numerics.bias_range).astype(np.int64)
    return PouParams.make(bias, mult, shift, relu=relu, numerics=numerics)


def _peak(values, percentile):
    return np.percentile(np.abs(values), percentile)


def quantise(params, images, percentile=CALIBRATION_PERCENTILE, numerics=DEFAULT_NUMERICS):
    """``{name: {"weights", "pou"}}`` of the int network, calibrated on ``images`` (training).

    Activation scales are per tensor (the ``percentile`` of a tensor's float magnitudes maps to
    the largest activation; larger values saturate); the two inputs of an ``add`` and its output
    share one scale, which pooling keeps. Weight scales are per output channel, widened where a
    channel's largest accumulation on ``images`` would pass :data:`ACC_HEADROOM` of the
    accumulator's range.
    """
    values = forward(params, images / PIXEL_MAX)
    top = numerics.act_range[1]
    scale = {"input": 1 / PIXEL_MAX}
    for layer in ARCHITECTURE:
        if layer["type"] == "add":
            shared = max(_peak(values[n], percentile) for n in (*layer["input"], layer["name"]))
            shared /= top
            for n in (*layer["input"], layer["name"]):
                scale[n] = shared
    for layer in ARCHITECTURE:
        name = layer["name"]
        if layer["type"] in POOLS:
            scale[name] = scale[_sources(layer)[0]]
        elif name not in scale:
            scale[name] = _peak(values[name], percentile) / top
    quantised = {}
    for layer in ARCHITECTURE:
        name = layer["name"]
        if layer["type"] not in WEIGHTED:
            continue
        source = _sources(layer)[0]
        w = params[name]["w"]
        w_scale = np.abs(w.reshape(-1, w.shape[-1])).max(axis=0) / numerics.weight_range[1]
        w_scale = np.where(w_scale > 0, w_scale, 1.0)
        x = np.rint(values[source] / scale[source])
        cols = _windows(x, layer["kernel"], layer.get("stride", 1), layer.get("padding", 0)) \
            if layer["type"] == "conv" else x.reshape(len(x), -1)
        axes = [3, 4, 5] if layer["type"] == "conv" else [1]
        for _ in range(2):  # widen, then check the widened scale once more
            q = np.rint(w / w_scale)
            peak = np.tensordot(np.abs(cols), np.abs(q), axes=(axes, list(range(len(axes)))))
            peak = peak.reshape(-1, w.shape[-1]).max(axis=0)
            limit = ACC_HEADROOM * numerics.acc_range[1]
            w_scale = w_scale * np.maximum(peak / limit, 1.0)
        weights = np.rint(w / w_scale).astype(np.int64)
        if np.abs(weights).max() > numerics.weight_range[1]:
            raise AssertionError(f"{name}: a weight does not fit {numerics.weight_bits} bits")
        acc_scale = scale[source] * w_scale
        pou = requant_params(acc_scale / scale[name], params[name]["b"] / scale[name],
                             relu=layer.get("relu", True), numerics=numerics)
        # The project's filters are [C, R, K, S]; the trainer's are [R, S, C, K].
        quantised[name] = {"weights": weights.transpose(2, 0, 3, 1) if layer["type"] == "conv"
                           else weights, "pou": pou}
    return quantised


# --- Files ---------------------------------------------------------------------------------------

def save_npz(path, arrays):
    """``np.savez_compressed`` with fixed zip timestamps, so equal arrays give equal bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)


def workload_text(accuracy):
    """The workload file of :data:`ARCHITECTURE`, its tensors in ``<layer>.npz`` beside it."""
    lines = [f'description = "The pruned int8 digits CNN of scripts/train_digits.py (int8 test '
             f'accuracy {accuracy:.4f}); the input is test image 0"']
    for layer in ARCHITECTURE:
        lines += ["", "[[layer]]"]
        for key, value in layer.items():
            if key == "kernel":
                value = [value, value]
            lines.append(f"{key} = {_toml_value(value)}")
        if layer["type"] in WEIGHTED:
            lines += [f'tensors = "{layer["name"]}.npz"', 'requant = "tensors"']
    return "\n".join(lines) + "\n"


def write(out, quantised, test_images, test_labels, accuracy):
    """The workload file, one ``.npz`` per weighted layer and ``test.npz`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    first = ARCHITECTURE[0]["name"]
    for name, layer in quantised.items():
        pou = layer["pou"]
        arrays = {"weights": layer["weights"].astype(np.int8),
                  "bias": np.array(pou.bias, dtype=np.int16),
                  "mult": np.array(pou.mult, dtype=np.uint16),
                  "shift": np.array(pou.shift, dtype=np.uint8)}
        if name == first:
            arrays["input"] = test_images[0].astype(np.int8)
        save_npz(out / f"{name}.npz", arrays)
    save_npz(out / "test.npz", {"images": test_images.astype(np.int8), "labels": test_labels})
    (out / "digits_cnn.toml").write_text(workload_text(accuracy))


def build(out, *, epochs=EPOCHS, fine_tune_epochs=FINE_TUNE_EPOCHS, split=None, seed=SEED):
    """Train, prune, quantise and write to ``out``; the figures as a dict.

    ``split`` (train images, train labels, test images, test labels) replaces ``load_digits``'s.
    """
    from isosceles.golden.digits import classify, load_network

    started = time.perf_counter()
    train_x, train_y, test_x, test_y = load_split(seed) if split is None else split
    rng = np.random.default_rng(seed)
    params = init_params(rng)
    masks = {name: np.ones_like(layer["w"]) for name, layer in params.items()}
    train(params, masks, train_x, train_y, epochs, 3e-3, rng)
    figures = {"float_dense_accuracy": float_accuracy(params, test_x, test_y)}
    for sparsity in PRUNE_STEPS:
        prune(params, masks, sparsity)
        train(params, masks, train_x, train_y, fine_tune_epochs, 2e-3, rng)
    figures["float_pruned_accuracy"] = float_accuracy(params, test_x, test_y)
    quantised = quantise(params, train_x)
    # The int8 accuracy is the golden model's, on the files as written.
    write(out, quantised, test_x, test_y, 0.0)
    network = load_network(out / "digits_cnn.toml")
    figures["int8_accuracy"] = float((classify(network, test_x)[1] == test_y).mean())
    (out / "digits_cnn.toml").write_text(workload_text(figures["int8_accuracy"]))
    figures["sparsity"] = {name: float((layer["weights"] == 0).mean())
                           for name, layer in quantised.items()}
    figures["train_images"], figures["test_images"] = len(train_y), len(test_y)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder to write (default {OUT})")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="dense training epochs")
    parser.add_argument("--fine-tune-epochs", type=int, default=FINE_TUNE_EPOCHS,
                        help="epochs after each pruning step")
    args = parser.parse_args()
    figures = build(args.out, epochs=args.epochs, fine_tune_epochs=args.fine_tune_epochs)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
