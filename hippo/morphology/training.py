"""Training the classifier on firstgalaxydata: train on train, choose the epoch on valid."""

import copy
import logging
import math
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from hippo.morphology.classifier import CLASSES
from hippo.morphology.network import MorphologyNet, random_dihedral

log = logging.getLogger("hippo.morphology")

DEFAULTS = {"epochs": 40, "batch_size": 32, "learning_rate": 3e-3, "weight_decay": 5e-4, "width": 24,
            "stem_convs": 1, "dropout": 0.2, "max_shift_px": 4, "max_scale": 0.1, "label_smoothing": 0.0,
            "ema_decay": 0.995}


def augment(batch, generator, max_shift_px, max_scale=0.0):
    """A random D4 element, then a random rotation, a scale change within 1 +- ``max_scale`` and a
    sub-pixel shift of up to ``max_shift_px`` on each axis (one bilinear resampling).

    The continuous rotation and shift teach the network what the canonical pose cannot remove:
    real cutouts are centred up to a pixel away from the data set's and rotated by any angle.
    """
    batch = random_dihedral(batch, generator)
    n, _, height, _ = batch.shape
    angle = torch.rand(n, generator=generator) * 2 * math.pi
    scale = 1 + (torch.rand(n, generator=generator) * 2 - 1) * max_scale
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (2 * max_shift_px / height)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = functional.affine_grid(theta, list(batch.shape), align_corners=False)
    return functional.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def predict_logits(model, images, batch_size=256):
    """Logits and pooled features (numpy) of an array of model inputs (N, 160, 160)."""
    model.eval()
    logits, features = [], []
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size], dtype=np.float32))
        out, feat = model.logits_and_features(batch[:, None])
        logits.append(out.numpy())
        features.append(feat.numpy())
    return np.concatenate(logits), np.concatenate(features)


class WeightAverage:
    """An exponential moving average of a model's weights (and batch-norm statistics).

    The average of the last few hundred steps is usually a little better and better calibrated
    than the weights of any one step, at no cost at inference.
    """

    def __init__(self, model, decay):
        self.decay = decay
        self.model = copy.deepcopy(model)
        self.updates = 0

    @torch.no_grad()
    def update(self, model):
        # Warm up the decay so that the random initial weights are forgotten within the first epochs.
        self.updates += 1
        decay = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        for average, current in zip(self.model.state_dict().values(), model.state_dict().values()):
            if average.dtype.is_floating_point:
                average.mul_(decay).add_(current, alpha=1.0 - decay)
            else:
                average.copy_(current)


def fit(train_set, valid_set, *, seed=0, epochs=DEFAULTS["epochs"], batch_size=DEFAULTS["batch_size"],
        learning_rate=DEFAULTS["learning_rate"], weight_decay=DEFAULTS["weight_decay"], width=DEFAULTS["width"],
        stem_convs=DEFAULTS["stem_convs"], dropout=DEFAULTS["dropout"], max_shift_px=DEFAULTS["max_shift_px"],
        max_scale=DEFAULTS["max_scale"], label_smoothing=DEFAULTS["label_smoothing"],
        ema_decay=DEFAULTS["ema_decay"], progress=None):
    """Train a MorphologyNet; return the best model on valid and the history.

    After every epoch both the current weights and their moving average (``ema_decay``; 0 turns
    it off) are scored on valid; the one with the best valid accuracy (then lowest valid NLL)
    over all epochs is returned. Class weights inverse to the training frequencies make the loss
    match the balanced valid and test splits (50 per class) rather than the training mix (FRII 47 %).
    """
    torch.manual_seed(seed)
    np.random.seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = MorphologyNet(width=width, dropout=dropout, stem_convs=stem_convs)
    average = WeightAverage(model, ema_decay) if ema_decay else None
    counts = np.bincount(train_set.labels, minlength=len(CLASSES)).astype(np.float64)
    class_weights = torch.tensor(counts.sum() / (len(CLASSES) * np.maximum(counts, 1)), dtype=torch.float32)
    loss_fn = nn.CrossEntropyLoss(weight=class_weights, label_smoothing=label_smoothing)
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    steps_per_epoch = int(np.ceil(len(train_set) / batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=learning_rate, epochs=epochs,
                                                   steps_per_epoch=steps_per_epoch, pct_start=0.15)
    images = torch.from_numpy(np.ascontiguousarray(train_set.images, dtype=np.float32))[:, None]
    labels = torch.from_numpy(train_set.labels.astype(np.int64))
    valid_labels = torch.from_numpy(valid_set.labels.astype(np.int64))
    best = (-1.0, -np.inf)
    best_state, history = None, []
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(labels), generator=generator)
        total = 0.0
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            batch = augment(images[chosen], generator, max_shift_px, max_scale)
            loss = loss_fn(model(batch), labels[chosen])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            if average is not None:
                average.update(model)
            total += loss.item() * len(chosen)
        entry = {"epoch": epoch, "train_loss": total / len(order), "seconds": time.perf_counter() - started}
        candidates = {"weights": model} if average is None else {"weights": model, "average": average.model}
        for kind, candidate in candidates.items():
            valid_logits, _ = predict_logits(candidate, valid_set.images)
            accuracy = float((valid_logits.argmax(1) == valid_set.labels).mean())
            nll = float(nn.functional.cross_entropy(torch.from_numpy(valid_logits), valid_labels))
            prefix = "valid" if kind == "weights" else "average_valid"
            entry.update({f"{prefix}_accuracy": accuracy, f"{prefix}_nll": nll})
            if (accuracy, -nll) > best:
                best = (accuracy, -nll)
                best_state = copy.deepcopy(candidate.state_dict())
                for earlier in history:
                    earlier.pop("chosen", None)
                entry["chosen"] = kind
        history.append(entry)
        log.info("epoch %d/%d  train loss %.4f  valid accuracy %.3f (average %.3f)  (%.0f s)", epoch, epochs,
                 entry["train_loss"], entry["valid_accuracy"], entry.get("average_valid_accuracy", float("nan")),
                 entry["seconds"])
        if progress is not None:
            progress(epoch)
    model.load_state_dict(best_state)
    model.eval()
    return model, history
