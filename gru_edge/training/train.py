"""`gru-edge train`: from a folder of recordings to a trained GRU keyword spotter in RUN_DIR.

RUN_DIR receives the resolved settings (`config.toml`), a checkpoint every epoch, the best
model (`best.keras`: on the validation stream for the stream recipe, on the validation clips
for the clip recipe), `history.json`, TensorBoard logs, `metrics.json` (validation and test
accuracy, per class) and PNG plots. A run killed at any moment continues
with `resume=True` from its last complete epoch, seeing the same data and drawing the same
augmentation it would have: on a CPU it ends with the uninterrupted run's numbers.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from gru_edge.atomicfile import write_text
from gru_edge.config import Config, TrainingConfig
from gru_edge.datasets import SPLITS, Dataset, load_dataset
from gru_edge.errors import GruEdgeError
from gru_edge.evaluation.clips import classification_metrics
from gru_edge.modelfile import is_keyword
from gru_edge.negatives import NegativeAudio, load_negatives, load_windows
from gru_edge.plots import plot_confusion, plot_history
from gru_edge.training.backbone import (
    backbone_file,
    check_features,
    finalize_normalization,
    freeze_below_head,
    load_backbone,
    transfer,
)
from gru_edge.training.checkpoints import (
    EpochCheckpoint,
    ResumableEarlyStopping,
    RunState,
    settle,
)
from gru_edge.training.losses import StreamLoss
from gru_edge.training.model import build_model
from gru_edge.training.pipeline import evaluation_batches, sequence_batches, training_batches
from gru_edge.training.sequences import SequenceMaker, SequenceSource
from gru_edge.training.validation import MONITOR as STREAM_MONITOR
from gru_edge.training.validation import StreamValidation, validation_stream

logger = logging.getLogger(__name__)


class RunDirError(GruEdgeError):
    """RUN_DIR does not fit the request (a run exists and was not resumed, or the reverse)."""


def resolve_config(
    run_dir: Path,
    resume: bool,
    config: Config | None,
    words: tuple[str, ...] | None,
    epochs: int | None,
    negatives: tuple[str, ...] | None = None,
    recipe: str | None = None,
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
    if negatives:
        data = replace(requested.data, negatives=tuple(str(n) for n in negatives))
        requested = replace(requested, data=data)
    if recipe:
        requested = replace(requested, training=replace(requested.training, recipe=recipe))
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
    negatives: tuple[str | Path, ...] | None = None,
    recipe: str | None = None,
) -> dict:
    """Trains (or resumes) a run; returns the metrics written to RUN_DIR/metrics.json.
    `words`, `epochs`, `negatives` and `recipe` replace those settings of `config`."""
    run_dir = Path(run_dir)
    config = resolve_config(run_dir, resume, config, words, epochs, negatives, recipe)
    devices, strategy = describe_devices()
    mixed = keras.mixed_precision.global_policy().name == "mixed_float16"
    logger.info("training on %s%s", ", ".join(devices), " with mixed float16" if mixed else "")

    dataset = load_dataset(data_dir, config.data, config.features.sample_rate)
    _report_data(dataset)
    negatives = None
    if config.data.negatives:
        negatives = load_negatives(
            config.data.negatives,
            config.data.words,
            config.features.sample_rate,
            validation_percentage=config.data.negatives_validation_percentage,
            testing_percentage=config.data.negatives_testing_percentage,
        )
        logger.info("negative audio: %s", negatives.describe())
        for path, reason in negatives.skipped:
            logger.warning("  skipped %s: %s", path, reason)
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(run_dir / "config.toml")

    state = RunState.load(run_dir)
    state.check_files(run_dir)
    settle(run_dir, state)
    if state.epochs_done < config.training.epochs and not state.stopped_early:
        _fit(dataset, negatives, config, run_dir, state, strategy)

    model = keras.models.load_model(run_dir / "best.keras", compile=False)
    metrics = _evaluate(model, dataset, negatives, config, run_dir, state, devices)
    write_text(run_dir / "metrics.json", json.dumps(metrics, indent=1))
    logger.info(
        "best epoch %d: validation accuracy %.4f%s",
        state.best_epoch + 1,
        metrics["validation"]["accuracy"],
        f", test accuracy {metrics['test']['accuracy']:.4f}" if metrics["test"] else "",
    )
    logger.info("wrote %s and %s", run_dir / "best.keras", run_dir / "metrics.json")
    return metrics


def _report_data(dataset: Dataset) -> None:
    counts = dataset.index.counts()
    logger.info(
        "data: %s (%s layout), noise: %s",
        dataset.index.root,
        dataset.index.layout,
        dataset.noise_source,
    )
    for split in SPLITS:
        per_label = ", ".join(f"{label} {counts[split].get(label, 0)}" for label in dataset.labels)
        logger.info("  %s: %d clips (%s)", split, len(dataset.clips[split]), per_label)
    if dataset.skipped:
        logger.warning("skipped %d unreadable file(s):", len(dataset.skipped))
        for path, reason in dataset.skipped:
            logger.warning("  %s", reason if reason.startswith(path) else f"{path}: {reason}")
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
    negatives: NegativeAudio | None,
    config: Config,
    run_dir: Path,
    state: RunState,
    strategy: tf.distribute.Strategy,
) -> None:
    training, labels = config.training, dataset.labels
    keras.utils.set_random_seed(training.seed)
    if training.recipe == "stream":
        hard = None
        if config.data.hard_negatives:
            clip_samples = dataset.clips["train"].audio.shape[1]
            rate = config.features.sample_rate
            hard = load_windows(config.data.hard_negatives, clip_samples, rate)
            logger.info("hard negatives: %d mined windows", len(hard))
        source = SequenceSource.build(
            dataset.clips["train"],
            labels,
            dataset.noise["train"],
            negatives,
            config.features.sample_rate,
            hard,
        )
        maker = SequenceMaker(
            source,
            config.sequences,
            config.augment,
            config.features,
            training.batch_size,
            training.seed,
        )
        steps = config.sequences.steps_per_epoch
        train_ds = sequence_batches(maker, state.epochs_done, training.epochs, steps)
        validation_ds = None  # StreamValidation scores the clips and the stream
        stream = validation_stream(dataset.index.root, config, negatives)
        logger.info(
            "validation stream: %.1f min, %d keywords, %d marked spans",
            stream.hours * 60,
            len(stream.occurrences),
            len(stream.marked),
        )
        extra_callbacks = [StreamValidation(config, labels, dataset, stream)]
        monitor = STREAM_MONITOR
    else:
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
        extra_callbacks, monitor = [], "val_accuracy"
    with strategy.scope():
        checkpoint = state.checkpoint_path(run_dir)
        if checkpoint:
            logger.info("resuming after epoch %d from %s", state.epochs_done, checkpoint)
            model = keras.models.load_model(checkpoint)
        else:
            model = _new_model(dataset, config, steps)
    logger.info("model: %s parameters", f"{model.count_params():,}")
    early_stopping = ResumableEarlyStopping(
        list(state.history.get(monitor, [])), monitor, patience=training.early_stopping_patience
    )
    callbacks = [
        *extra_callbacks,  # first: they add what the checkpoint and early stopping read
        EpochCheckpoint(run_dir, state, monitor),
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
        logger.warning(
            "interrupted: %d epoch(s) are saved in %s; continue with the same command and --resume",
            state.epochs_done,
            run_dir,
        )
        raise
    if early_stopping.stopped_epoch:
        logger.info(
            "stopped early: no better %s for %d epochs", monitor, training.early_stopping_patience
        )
        state.stopped_early = True
        state.save(run_dir)


def _new_model(dataset: Dataset, config: Config, steps_per_epoch: int) -> keras.Model:
    training = config.training
    stream = training.recipe == "stream"
    model = build_model(
        len(dataset.labels),
        config.features,
        config.model,
        config.augment,
        seed=training.seed,
        all_frames=stream,
    )
    if training.backbone:  # its layers below the head, its normalization among them
        logger.info("backbone: %s", backbone_file(training.backbone))
        backbone = load_backbone(training.backbone)
        check_features(backbone, config.features)
        transfer(backbone, model, training.freeze_backbone)
    elif training.init_from:
        start = Path(training.init_from) / "best.keras"
        logger.info("starting from the weights of %s", start)
        model.set_weights(keras.models.load_model(start, compile=False).get_weights())
        finalize_normalization(model)
        if training.freeze_backbone:
            freeze_below_head(model)
    else:  # the normalization learns each mel bin's mean and variance from clean clips
        clean = evaluation_batches(dataset.clips["train"], len(dataset.labels), training.batch_size)
        front_end = model.get_layer("front_end")
        model.get_layer("normalization").adapt(clean.map(lambda audio, _: front_end(audio)))
    schedule = learning_rate_schedule(training, steps_per_epoch)
    if stream:
        loss = StreamLoss(
            [i for i, label in enumerate(dataset.labels) if not is_keyword(label)],
            max_windows=config.sequences.max_clips,
            label_smoothing=training.label_smoothing,
            negative_weight=config.sequences.negative_weight,
            negative_top_fraction=config.sequences.negative_top_fraction,
        )
        metrics = []
    else:
        loss = keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=training.label_smoothing
        )
        metrics = ["accuracy"]
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss, metrics=metrics)
    return model


def learning_rate_schedule(
    training: TrainingConfig, steps_per_epoch: int
) -> keras.optimizers.schedules.CosineDecay:
    """A linear warm-up from 1/100 of `learning_rate` over `warmup_epochs`, then a cosine
    decay to 0 over the other epochs. A warm-up that leaves no epoch to decay over (the
    default 2 epochs in a `--epochs 1` run) is cut to the first half of the run, with a note,
    rather than the run refused: a run that ends still warming up would end at its highest
    rate, and one without a warm-up takes its first steps at full rate."""
    total = training.epochs * steps_per_epoch
    warmup = training.warmup_epochs * steps_per_epoch
    if training.warmup_epochs >= training.epochs:
        warmup = total // 2
        logger.warning(
            "training.warmup_epochs %d does not fit a %d-epoch run: warming up over the first "
            "half of the run (%d steps)",
            training.warmup_epochs,
            training.epochs,
            warmup,
        )
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=training.learning_rate / 100 if warmup else training.learning_rate,
        warmup_target=training.learning_rate if warmup else None,
        warmup_steps=warmup,
        decay_steps=total - warmup,
    )


def _evaluate(
    model: keras.Model,
    dataset: Dataset,
    negatives: NegativeAudio | None,
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
            "negatives": negatives.describe() if negatives else None,
        },
        "recipe": config.training.recipe,
    }
    for split in ("validation", "test"):
        clips = dataset.clips[split]
        if not len(clips):
            metrics[split] = None
            continue
        batches = evaluation_batches(clips, len(labels), config.training.batch_size)
        scores = model.predict(batches, verbose=0)
        last = scores[:, -1] if scores.ndim == 3 else scores  # the stream recipe's all frames
        predicted = np.argmax(last, axis=1)
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
