"""A backbone: the layers of a trained model under a new head, to learn new words from few
or synthetic clips.

A model trained on thousands of real recordings has learnt, below its head, what speech looks
like through the log-mel front end: its normalization, convolution and GRU layers. A model of
other words (a custom wake word from synthetic voices) starts from them, with a new head for
its own labels; frozen, only the head learns. gru_edge ships the layers of its kws12 model
(`SHIPPED`, trained on Speech Commands) for this.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras

from gru_edge.config import FeatureConfig, ModelConfig
from gru_edge.errors import GruEdgeError

SHIPPED = Path(__file__).resolve().parent.parent / "models" / "kws12.keras"
HEAD = "head"


class BackboneError(GruEdgeError):
    """A backbone that cannot start this model: missing, or of other settings."""


def backbone_file(spec: str | Path) -> Path:
    """The .keras file of "shipped", a run folder (its best model) or a .keras file."""
    path = SHIPPED if str(spec) == "shipped" else Path(spec)
    if path.is_dir():
        path = path / "best.keras"
    if not path.is_file():
        raise BackboneError(
            f"backbone {spec}: no model at {path}; give a run folder of `gru-edge train`, a "
            f".keras file, or 'shipped'"
        )
    return path


def load_backbone(spec: str | Path) -> keras.Model:
    return keras.models.load_model(backbone_file(spec), compile=False)


def model_config(backbone: keras.Model) -> ModelConfig:
    """The [model] settings the backbone was built with: a model it starts must share them."""
    names = {layer.name: layer for layer in backbone.layers}
    conv = names.get("conv")
    grus = [names[f"gru_{i}"] for i in range(2) if f"gru_{i}" in names]
    return ModelConfig(
        conv_filters=conv.filters if conv else 0,
        conv_kernel=conv.kernel_size[0] if conv else ModelConfig().conv_kernel,
        gru_units=tuple(gru.units for gru in grus),
    )


def check_features(backbone: keras.Model, features: FeatureConfig) -> None:
    own = backbone.get_layer("front_end").features
    if own != features:
        changed = [
            f.name
            for f in dataclasses.fields(own)
            if getattr(own, f.name) != getattr(features, f.name)
        ]
        raise BackboneError(
            f"the backbone was trained with other [features] ({', '.join(changed)}): a model "
            f"starting from it must keep the backbone's front end"
        )


def transfer(backbone: keras.Model, model: keras.Model, freeze: bool) -> list[str]:
    """Copies every layer with weights but the head from `backbone` into `model` (same names,
    same shapes), frozen when asked; returns the names of the layers copied."""
    copied = []
    for layer in model.layers:
        if not layer.weights or layer.name == HEAD:
            continue
        try:
            source = backbone.get_layer(layer.name)
        except ValueError:
            raise BackboneError(f"the backbone has no layer {layer.name!r}") from None
        shapes = [tuple(w.shape) for w in source.weights]
        if shapes != [tuple(w.shape) for w in layer.weights]:
            raise BackboneError(
                f"the backbone's layer {layer.name!r} has weights of shapes {shapes}; this model's "
                f"[model] settings differ from the backbone's {model_config(backbone)}"
            )
        layer.set_weights(source.get_weights())
        copied.append(layer.name)
    finalize_normalization(model)
    if freeze:
        freeze_below_head(model)
    return copied


def finalize_normalization(model: keras.Model) -> None:
    """After weights are set: a Normalization layer computes with constants it derives from
    its mean and variance once, which `set_weights` does not derive again (without this it
    goes on normalizing with what it had: nothing, for a layer never adapted)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Normalization):
            layer.finalize_state()


def freeze_below_head(model: keras.Model) -> None:
    """Only the head learns from now on (before the model is compiled)."""
    for layer in model.layers:
        if layer.weights and layer.name != HEAD:
            layer.trainable = False
