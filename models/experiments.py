"""Variants of the shipped recipe tried on valid and not shipped, so that the model card's
"Experiments" numbers come from code in the repository (they are one training run each; test is
never looked at here).

    python models/experiments.py depth --seed 0      # two residual convolutions per stage
    python models/experiments.py field --pixels 240  # a 7.2' field at the same 1.8"/px
    python models/experiments.py int8 --model models # the shipped network quantized to int8

Each prints one JSON line: valid accuracy of the chosen epoch, the last five epochs' valid
accuracies (raw and moving-average weights), and the training images' accuracy in eval mode.
"""

import argparse
import json
import time

import numpy as np


def residual_network_class(depth):
    """MorphologyNet with ``depth`` 3 x 3 convolutions per stage, the later ones residual."""
    from torch import nn

    from hippo.morphology import network

    class Stage(nn.Module):
        def __init__(self, channels_in, channels_out, convolutions):
            super().__init__()
            self.first = network._conv(channels_in, channels_out)
            self.rest = nn.Sequential(*[network._conv(channels_out, channels_out) for _ in range(convolutions - 1)])

        def forward(self, x):
            x = self.first(x)
            return x + self.rest(x) if len(self.rest) else x

    class DeeperNet(network.MorphologyNet):
        def __init__(self, width=24, n_classes=4, dropout=0.2, stem_convs=1):
            nn.Module.__init__(self)
            self.config = {"width": width, "n_classes": n_classes, "dropout": dropout, "stem_convs": stem_convs,
                           "depth": depth}
            self.features = nn.Sequential(
                network._conv(2, width, kernel=4, stride=2), Stage(width, width, max(depth - 1, 1)), nn.MaxPool2d(2),
                Stage(width, 2 * width, depth), nn.MaxPool2d(2),
                Stage(2 * width, 4 * width, depth), nn.MaxPool2d(2),
                Stage(4 * width, 8 * width, depth), nn.MaxPool2d(2),
                Stage(8 * width, 8 * width, depth),
            )
            self.dropout = nn.Dropout(dropout)
            self.head = nn.Linear(8 * width, n_classes)

    return DeeperNet


def train_and_report(tag, seed, epochs):
    from hippo.morphology import data, training

    train, valid = data.load_splits("train", "valid")
    started = time.time()
    model, history = training.fit(train, valid, seed=seed, epochs=epochs)
    train_logits, _ = training.predict_logits(model, train.images)
    valid_logits, _ = training.predict_logits(model, valid.images)
    return {"experiment": tag, "seed": seed, "epochs": epochs,
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "valid_accuracy": float((valid_logits.argmax(1) == valid.labels).mean()),
            "train_accuracy_eval": float((train_logits.argmax(1) == train.labels).mean()),
            "last5_valid": [h["valid_accuracy"] for h in history[-5:]],
            "last5_average_valid": [h.get("average_valid_accuracy") for h in history[-5:]],
            "chosen": [(h["epoch"], h["chosen"]) for h in history if h.get("chosen")],
            "minutes": round((time.time() - started) / 60, 1)}


def depth_experiment(args):
    from hippo.morphology import training

    training.MorphologyNet = residual_network_class(args.depth)
    return train_and_report(f"depth {args.depth}", args.seed, args.epochs)


def field_experiment(args):
    # The grid size is read from these module globals by the preprocessing and the cache key.
    from hippo.morphology import data, preprocess

    preprocess.GRID_PIXELS = data.GRID_PIXELS = args.pixels
    return train_and_report(f"field {args.pixels} px", args.seed, args.epochs)


def int8_experiment(args):
    import warnings

    import torch
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    from hippo.morphology.classifier import load_classifier
    from hippo.morphology.data import load_splits
    from hippo.morphology.network import canonical_pose

    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    train, valid = load_splits("train", "valid")
    network = load_classifier(args.model, threads=1).network

    def network_input(images):
        x = canonical_pose(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))[:, None])
        return torch.cat([x, torch.sqrt(x.clamp_min(0))], 1)

    prepared = prepare_fx(network.features, get_default_qconfig_mapping("x86"),
                          example_inputs=(network_input(train.images[:8]),))
    with torch.inference_mode():
        for start in range(0, 512, 64):
            prepared(network_input(train.images[start:start + 64]))
    quantized = convert_fx(prepared)

    def labels_and_ms(features):
        with torch.inference_mode():
            labels = network.head(features(network_input(valid.images)).mean(dim=(2, 3))).numpy().argmax(1)
            batch = network_input(valid.images[:8]).contiguous(memory_format=torch.channels_last)
            times = []
            for _ in range(30):
                started = time.perf_counter()
                features(batch)
                times.append(time.perf_counter() - started)
        return labels, 1e3 * float(np.median(times)) / 8

    float_labels, float_ms = labels_and_ms(network.features)
    int8_labels, int8_ms = labels_and_ms(quantized)
    return {"experiment": "int8", "valid_accuracy_float": float((float_labels == valid.labels).mean()),
            "valid_accuracy_int8": float((int8_labels == valid.labels).mean()),
            "same_label": float((float_labels == int8_labels).mean()),
            "ms_per_image_float": round(float_ms, 3), "ms_per_image_int8": round(int8_ms, 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="experiment", required=True)
    depth = commands.add_parser("depth", help="convolutions per stage")
    depth.add_argument("--depth", type=int, default=2)
    field = commands.add_parser("field", help="model grid in pixels at 1.8\"/px")
    field.add_argument("--pixels", type=int, default=240)
    for sub in (depth, field):
        sub.add_argument("--seed", type=int, default=0)
        sub.add_argument("--epochs", type=int, default=40)
    int8 = commands.add_parser("int8", help="post-training int8 quantization of the shipped network")
    int8.add_argument("--model", default=None, help="model directory (default: the shipped one)")
    args = parser.parse_args()
    run = {"depth": depth_experiment, "field": field_experiment, "int8": int8_experiment}[args.experiment]
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
