"""Explanation maps for the pages: computed once per image, models, method and target (cached), drawn side by side,
and put in words when a map is empty or flat."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from galaxy_core.classes import CLASS_NAMES
from galaxy_core.dashboard.loaded_models import predictor
from galaxy_core.evaluation.explain import CLASS_AGNOSTIC, METHODS, describe, explain_prediction, overlay

OWN_METHOD = "each model's own"
ANSWER = "the answer's class"
SUGGESTED = "layercam"  # the method that pointed best for most families (docs/explanations.md)


@st.cache_data(show_spinner=False, max_entries=512)
def explanation_maps(checkpoints: tuple[str, ...], rule: str | None, pixels: np.ndarray, result: dict, method: str | None,
                     target: int | None) -> dict:
    """The maps of `result` (a Predictor's answer for `pixels`) on the cutout: per member and combined."""
    explained = explain_prediction(predictor(checkpoints, rule), pixels[None], [result], method, target)[0]
    return {"target": explained.target, "combined": explained.combined, "empty": explained.empty,
            "members": [{"name": name, "method": e.method, "layer": e.layer, "cells": e.map_size, "says": describe(e),
                         "map": explained.maps[name], "weight": explained.weights[name]} for name, e in explained.members.items()]}


def method_and_target(key: str) -> tuple[str | None, int | None, float]:
    """The explanation controls: method (None: each family's default), target class (None: the answer's), opacity."""
    left, middle, right = st.columns([1, 1, 1])
    method = left.selectbox("Explanation method", [OWN_METHOD, *METHODS], key=f"{key}_method",
                            help="Class-activation maps (pytorch-grad-cam). Each model family's own method and layer are the ones "
                                 "that pointed best at the galaxy on synthetic images with known masks; eigencam ignores the class.")
    target = middle.selectbox("Explain the class", [ANSWER, *CLASS_NAMES], key=f"{key}_target")
    opacity = right.slider("Overlay opacity", 0.0, 1.0, 0.45, key=f"{key}_opacity")
    return (None if method == OWN_METHOD else method), (None if target == ANSWER else CLASS_NAMES.index(target)), opacity


def _offer_another_method(key: str, member: str, current: str) -> None:
    other = SUGGESTED if current != SUGGESTED else "hirescam"
    st.button(f"Try {other}", key=f"{key}_{Path(member).name}_retry", on_click=lambda: st.session_state.update({f"{key}_method": other}))


def show_maps(key: str, pixels: np.ndarray, result: dict, checkpoints: tuple[str, ...], rule: str | None) -> None:
    """Every chosen model's map side by side, then the ensemble's; an empty or flat map is said in words, with a button
    for another method, instead of a uniform colour wash."""
    method, target, opacity = method_and_target(key)
    maps = explanation_maps(checkpoints, rule, pixels, result, method, target)
    explained = "every class alike" if maps["target"] is None else CLASS_NAMES[maps["target"]]
    ensemble = len(maps["members"]) > 1
    columns = st.columns(len(maps["members"]) + ensemble)
    for column, member in zip(columns, maps["members"]):
        with column:
            caption = f"{Path(member['name']).name}: {member['method']}, {member['cells'][0]}×{member['cells'][1]} cells"
            if member["says"]:
                st.image(pixels, caption=caption, width="stretch")
                st.info(member["says"] + ".")
                _offer_another_method(key, member["name"], member["method"])
            else:
                st.image(overlay(pixels, member["map"], opacity), caption=caption, width="stretch")
            if ensemble:
                st.caption(f"weight in the ensemble's map: {member['weight']:.2f}")
    if ensemble:
        with columns[-1]:
            if maps["empty"]:
                st.image(pixels, caption=f"ensemble ({rule})", width="stretch")
                st.info("No member finds positive evidence for this class: the ensemble's map is empty.")
            else:
                st.image(overlay(pixels, maps["combined"], opacity), caption=f"ensemble ({rule}): its members' maps, weighted as "
                         "the rule weighs them", width="stretch")
    agnostic = method in CLASS_AGNOSTIC
    st.caption(f"Maps of the evidence for **{explained}**" + (" (eigencam is class-agnostic: the map is the same for every class)"
                                                              if agnostic else "") + "; each model sees only the part of the "
               "cutout its training did (the coloured square).")


@st.cache_data(show_spinner="Explaining the mistakes...", max_entries=32)
def answer_maps(checkpoints: tuple[str, ...], rule: str | None, images: np.ndarray) -> list[np.ndarray]:
    """For a few images: the model's (or ensemble's) answer explained, each family by its own method, on the cutout."""
    model_set = predictor(checkpoints, rule)
    return [e.combined for e in explain_prediction(model_set, images, model_set.predict(images))]


def overlays(images: np.ndarray, maps: list[np.ndarray], opacity: float = 0.45) -> list[np.ndarray]:
    return [image if not float(full.max()) > 0 else overlay(image, full, opacity) for image, full in zip(images, maps)]
