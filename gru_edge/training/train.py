"""`gru-edge train`: from a folder of recordings to a trained GRU keyword spotter in RUN_DIR.

RUN_DIR receives the resolved settings (`config.toml`), a checkpoint every epoch, the best
model on the validation clips (`best.keras`), `history.json`, TensorBoard logs, `metrics.json`
(validation and test accuracy, per class) and PNG plots. A run killed at any moment continues
with `resume=True` from its last complete epoch, seeing the same data it would have seen.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from gru_edge.atomicfile import write_text
from gru_edge.config import Config
from gru_edge.errors import GruEdgeError
from gru_edge.training.checkpoints import (
    EpochCheckpoint,
    ResumableEarlyStopping,
    RunState,
    settle,
)
from gru_edge.training.data import SPLITS, Dataset, load_dataset
from gru_edge.training.model import build_model
from gru_edge.training.pipeline import evaluation_batches, training_batches
from gru_edge.training.report import classification_metrics, plot_confusion, plot_history


class RunDirError(GruEdgeError):
    """RUN_DIR does not fit the request (a run exists and was not resumed, or the reverse)."""


def resolve_config(
    run_dir: Path,
    resume: bool,
    config: Config | None,
    words: tuple[str, ...] | None,
    epochs: int | None,
) -> Config:
    """The settings of the run. A new run takes the given ones; a resumed run keeps its own,
    and refuses given settings that differ (repeating the original command is fine)."""
    saved_path = run_dir / "config.toml"
    if resume and not saved_path.is_file():
        raise RunDirError(
            f"{run_dir} holds no run to resume (no config.toml); start it without --resume"
        )
    if not resume and saved_path.exists():
        raise RunDirError(
            f"{run_dir} already holds a run; continue it with --resume or choose another --out"
        )
    saved = Config.from_toml(saved_path) if resume else Config()
    requested = config or saved
    if words:
        requested = replace(requested, data=replace(requested.data, words=tuple(words)))
    if epochs is not None:
        requested = replace(requested, training=replace(requested.training, epochs=epochs))
    if resume and requested != saved:
        changed = [
            f"{section}.{key}"
            for section, table in requested.to_dict().items()
            for key, value in table.items()
            if saved.to_dict()[section][key] != value
        ]
        raise RunDirError(
            f"a resumed run keeps its settings, and these differ from "
            f"{saved_path}: {', '.join(changed)}"
        )
    return requested


def describe_devices() -> tuple[list[str], tf.distribute.Strategy]:
    """The devices training will use, and the strategy that uses them all."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return [f"CPU ({os.cpu_count()} cores)"], tf.distribute.get_strategy()
    names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
    keras.mixed_precision.set_global_policy("mixed_float16")
    strategy = tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    return [f"GPU {i}: {name}" for i, name in enumerate(names)], strategy


def train(
    data_dir: str | Path,
    run_dir: str | Path,
    config: Config | None = None,
    words: tuple[str, ...] | None = None,
    epochs: int | None = None,
    resume: bool = False,
    log=print,
) -> dict:
    """Trains (or resumes) a run; returns the metrics written to RUN_DIR/metrics.json."""
    run_dir = Path(run_dir)
    config = resolve_config(run_dir, resume, config, words, epochs)
    devices, strategy = describe_devices()
    mixed = keras.mixed_precision.global_policy().name == "mixed_float16"
    log(f"training on {', '.join(devices)}" + (" with mixed float16" if mixed else ""))

    dataset = load_dataset(data_dir, config.data, config.features.sample_rate)
    _report_data(dataset, log)
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(run_dir / "config.toml")

    state = RunState.load(run_dir)
    settle(run_dir, state)
    if state.epochs_done < config.training.epochs and not state.stopped_early:
        _fit(dataset, config, run_dir, state, strategy, log)

    model = keras.models.load_model(run_dir / "best.keras")
    metrics = _evaluate(model, dataset, config, run_dir, state, devices)
    write_text(run_dir / "metrics.json", json.dumps(metrics, indent=1))
    log(
        f"best epoch {state.best_epoch + 1}: validation accuracy "
        f"{metrics['validation']['accuracy']:.4f}"
        + (f", test accuracy {metrics['test']['accuracy']:.4f}" if metrics["test"] else "")
    )
    log(f"wrote {run_dir / 'best.keras'} and {run_dir / 'metrics.json'}")
    return metrics


def _report_data(dataset: Dataset, log) -> None:
    counts = dataset.index.counts()
    log(
        f"data: {dataset.index.root} ({dataset.index.layout} layout), noise: {dataset.noise_source}"
    )
    for split in SPLITS:
        per_label = ", ".join(f"{label} {counts[split].get(label, 0)}" for label in dataset.labels)
        log(f"  {split}: {len(dataset.clips[split])} clips ({per_label})")
    if dataset.skipped:
        log(f"skipped {len(dataset.skipped)} unreadable file(s):")
        for path, reason in dataset.skipped:
            log(f"  {reason}" if reason.startswith(path) else f"  {path}: {reason}")
    for split in ("train", "validation"):
        present = set(dataset.clips[split].labels.tolist())
        missing = [label for i, label in enumerate(dataset.labels) if i not in present]
        if missing:
            raise GruEdgeError(
                f"no {split} clips of {missing}: add recordings of them, or "
                f"list some in validation_list.txt"
            )


def _fit(
    dataset: Dataset,
    config: Config,
    run_dir: Path,
    state: RunState,
    strategy: tf.distribute.Strategy,
    log,
) -> None:
    training, labels = config.training, dataset.labels
    keras.utils.set_random_seed(training.seed)
    train_ds, steps = training_batches(
        dataset.clips["train"],
        dataset.noise["train"],
        len(labels),
        config.augment,
        training.batch_size,
        training.seed,
        config.features.sample_rate,
        state.epochs_done,
        training.epochs,
    )
    validation_ds = evaluation_batches(  # read every epoch: cached once decoded
        dataset.clips["validation"], len(labels), training.batch_size
    ).cache()
    with strategy.scope():
        checkpoint = state.checkpoint_path(run_dir)
        if checkpoint:
            log(f"resuming after epoch {state.epochs_done} from {checkpoint}")
            model = keras.models.load_model(checkpoint)
        else:
            model = _new_model(dataset, config, steps)
    log(f"model: {model.count_params():,} parameters")
    early_stopping = ResumableEarlyStopping(
        list(state.history.get("val_accuracy", [])), patience=training.early_stopping_patience
    )
    callbacks = [
        EpochCheckpoint(run_dir, state),
        early_stopping,
        keras.callbacks.TensorBoard(run_dir / "tensorboard", write_graph=False),
    ]
    try:
        model.fit(
            train_ds,
            epochs=training.epochs,
            initial_epoch=state.epochs_done,
            steps_per_epoch=steps,
            validation_data=validation_ds,
            callbacks=callbacks,
            shuffle=False,  # the pipeline shuffles, seeded by epoch
            verbose=1 if sys.stdout.isatty() else 2,
        )
    except KeyboardInterrupt:
        log(
            f"\ninterrupted: {state.epochs_done} epoch(s) are saved in {run_dir}; "
            f"continue with the same command and --resume"
        )
        raise
    if early_stopping.stopped_epoch:
        log(
            f"stopped early: no better validation accuracy for "
            f"{training.early_stopping_patience} epochs"
        )
        state.stopped_early = True
        state.save(run_dir)


def _new_model(dataset: Dataset, config: Config, steps_per_epoch: int) -> keras.Model:
    training = config.training
    model = build_model(
        len(dataset.labels), config.features, config.model, config.augment, seed=training.seed
    )
    # The normalization layer learns each mel bin's mean and variance from clean training clips.
    clean = evaluation_batches(dataset.clips["train"], len(dataset.labels), training.batch_size)
    front_end = model.get_layer("front_end")
    model.get_layer("normalization").adapt(clean.map(lambda audio, _: front_end(audio)))
    warmup = training.warmup_epochs * steps_per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=training.learning_rate / 100 if warmup else training.learning_rate,
        warmup_target=training.learning_rate if warmup else None,
        warmup_steps=warmup,
        decay_steps=(training.epochs - training.warmup_epochs) * steps_per_epoch,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=training.label_smoothing
        ),
        metrics=["accuracy"],
    )
    return model


def _evaluate(
    model: keras.Model,
    dataset: Dataset,
    config: Config,
    run_dir: Path,
    state: RunState,
    devices: list[str],
) -> dict:
    labels = dataset.labels
    metrics = {
        "labels": list(labels),
        "parameters": int(model.count_params()),
        "devices": devices,
        "epochs_trained": state.epochs_done,
        "best_epoch": state.best_epoch + 1,
        "training_seconds": round(sum(state.history.get("seconds", [])), 1),
        "data": {
            "root": str(dataset.index.root),
            "layout": dataset.index.layout,
            "noise": dataset.noise_source,
            "counts": dataset.index.counts(),
            "skipped": [{"path": p, "reason": r} for p, r in dataset.skipped],
        },
    }
    for split in ("validation", "test"):
        clips = dataset.clips[split]
        if not len(clips):
            metrics[split] = None
            continue
        batches = evaluation_batches(clips, len(labels), config.training.batch_size)
        predicted = np.argmax(model.predict(batches, verbose=0), axis=1)
        metrics[split] = classification_metrics(clips.labels, predicted, labels)
    plot_history(state.history, run_dir / "curves.png")
    for split in ("validation", "test"):
        if metrics[split]:
            plot_confusion(
                metrics[split]["confusion"],
                labels,
                f"{split}: accuracy {metrics[split]['accuracy']:.3f}",
                run_dir / f"confusion_{split}.png",
            )
    return metrics
