"""Training the classifier on firstgalaxydata: train on train, choose the epoch on valid."""

import copy
import logging
import time

import numpy as np
import torch
from torch import nn

from hippo.morphology.network import CLASSES, MorphologyNet, random_dihedral

log = logging.getLogger("hippo.morphology")

DEFAULTS = {"epochs": 25, "batch_size": 32, "learning_rate": 3e-3, "weight_decay": 5e-4, "width": 24,
            "stem_convs": 1, "dropout": 0.2, "max_shift_px": 4, "label_smoothing": 0.0}


def augment(batch, generator, max_shift_px):
    """Random D4 element and a random shift of up to ``max_shift_px`` pixels on each axis."""
    batch = random_dihedral(batch, generator)
    if max_shift_px:
        shifts = torch.randint(-max_shift_px, max_shift_px + 1, (2,), generator=generator)
        batch = torch.roll(batch, shifts=(int(shifts[0]), int(shifts[1])), dims=(-2, -1))
    return batch


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


def fit(train_set, valid_set, *, seed=0, epochs=DEFAULTS["epochs"], batch_size=DEFAULTS["batch_size"],
        learning_rate=DEFAULTS["learning_rate"], weight_decay=DEFAULTS["weight_decay"], width=DEFAULTS["width"],
        stem_convs=DEFAULTS["stem_convs"], dropout=DEFAULTS["dropout"], max_shift_px=DEFAULTS["max_shift_px"],
        label_smoothing=DEFAULTS["label_smoothing"], progress=None):
    """Train a MorphologyNet; return the model at the epoch with the best valid accuracy and the history.

    Class weights inverse to the training frequencies make the loss match the balanced valid
    and test splits (50 per class) rather than the training mix (FRII 47 %).
    """
    torch.manual_seed(seed)
    np.random.seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = MorphologyNet(width=width, dropout=dropout, stem_convs=stem_convs)
    counts = np.bincount(train_set.labels, minlength=len(CLASSES)).astype(np.float64)
    class_weights = torch.tensor(counts.sum() / (len(CLASSES) * np.maximum(counts, 1)), dtype=torch.float32)
    loss_fn = nn.CrossEntropyLoss(weight=class_weights, label_smoothing=label_smoothing)
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    steps_per_epoch = int(np.ceil(len(train_set) / batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=learning_rate, epochs=epochs,
                                                   steps_per_epoch=steps_per_epoch, pct_start=0.15)
    images = torch.from_numpy(np.ascontiguousarray(train_set.images, dtype=np.float32))[:, None]
    labels = torch.from_numpy(train_set.labels.astype(np.int64))
    best = (-1.0, np.inf)
    best_state, history = None, []
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(labels), generator=generator)
        total = 0.0
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            batch = augment(images[chosen], generator, max_shift_px)
            loss = loss_fn(model(batch), labels[chosen])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(chosen)
        valid_logits, _ = predict_logits(model, valid_set.images)
        valid_accuracy = float((valid_logits.argmax(1) == valid_set.labels).mean())
        valid_nll = float(nn.functional.cross_entropy(torch.from_numpy(valid_logits),
                                                      torch.from_numpy(valid_set.labels.astype(np.int64))))
        history.append({"epoch": epoch, "train_loss": total / len(order), "valid_accuracy": valid_accuracy,
                        "valid_nll": valid_nll, "seconds": time.perf_counter() - started})
        log.info("epoch %d/%d  train loss %.4f  valid accuracy %.3f  valid nll %.4f  (%.0f s)", epoch, epochs,
                 total / len(order), valid_accuracy, valid_nll, history[-1]["seconds"])
        if (valid_accuracy, -valid_nll) > (best[0], -best[1]):
            best = (valid_accuracy, valid_nll)
            best_state = copy.deepcopy(model.state_dict())
            history[-1]["chosen"] = True
        if progress is not None:
            progress(epoch)
    model.load_state_dict(best_state)
    model.eval()
    return model, history
