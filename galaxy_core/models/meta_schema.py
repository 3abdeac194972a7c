"""The schema a checkpoint's meta.json must follow before anything in it is used.

meta.json is read by every loader (CLI, dashboard, evaluation); a hand-edited or damaged one must
give one sentence, not a TypeError deep in model building. Checked with jsonschema.
"""
from __future__ import annotations

import jsonschema

from galaxy_core.errors import UserError

_SIDE = {"type": "integer", "minimum": 8, "maximum": 2048}
_OPTIONAL_SIDE = {"anyOf": [_SIDE, {"type": "null"}]}
_THREE_NUMBERS = {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3}

META_SCHEMA = {
    "type": "object",
    "required": ["model", "recipe", "classes", "preprocessing"],
    "properties": {
        "model": {"type": "string", "minLength": 1, "maxLength": 100},
        "recipe": {
            "type": "object",
            "required": ["model", "image_size"],
            "properties": {
                "model": {"type": "string"},
                "image_size": _SIDE,
                "resize": _OPTIONAL_SIDE,
                "normalisation": {"enum": ["unit", "imagenet"]},
                "batch_size": {"type": "integer", "minimum": 1},
                "epochs": {"type": "integer", "minimum": 1},
                "learning_rate": {"type": "number", "exclusiveMinimum": 0},
                "label_smoothing": {"type": "number", "minimum": 0, "maximum": 1},
                "weights": {"type": ["string", "null"]},
                "init": {"type": ["string", "null"]},
                "trainable": {"enum": ["all", "head"]},
                "augment": {"type": "boolean"},
                "look_augment": {"type": "boolean"},
            },
        },
        "classes": {"type": "array", "items": {"type": "string"}, "minItems": 10, "maxItems": 10},
        "preprocessing": {
            "type": "object",
            "required": ["input_size", "mean", "std"],
            "properties": {
                "input_size": _SIDE,
                "resize": _OPTIONAL_SIDE,
                "mean": _THREE_NUMBERS,
                "std": {**_THREE_NUMBERS, "items": {"type": "number", "exclusiveMinimum": 0}},
            },
        },
        "weights_dtype": {"enum": ["float16", "float32"]},
        "weights_sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
        "format_version": {"type": "integer"},
        "metrics": {"type": "object"},
        "data": {"type": "object", "properties": {"pxscale": {"anyOf": [{"type": "number", "minimum": 0.01, "maximum": 10}, {"type": "null"}]}}},
        "ood": {"type": "object"},
        # A checkpoint adapted to a user's labelled galaxies (`adapt`): its head was refitted, the rest is the base's.
        "adapted": {"type": "object", "required": ["head"], "properties": {"head": {"enum": ["linear", "residual"]}}},
    },
}

_VALIDATOR = jsonschema.Draft202012Validator(META_SCHEMA)


def check_meta(meta, where: str) -> dict:
    """`meta` if it follows the schema, else one UserError naming the first problem."""
    error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(meta))
    if error is not None:
        field = ".".join(str(p) for p in error.absolute_path) or "the top level"
        problem = error.message if len(error.message) <= 100 else error.message[:97] + "..."
        raise UserError(f"{where} is not a valid checkpoint description ({field}: {problem}): the checkpoint is damaged; train it again.")
    if meta["recipe"]["model"] != meta["model"]:
        raise UserError(f"{where} names two models ({meta['model']} and {meta['recipe']['model']}): the checkpoint is damaged; train it again.")
    return meta
