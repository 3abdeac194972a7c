"""Synthetic Galaxy10 DECaLS files: the real schema, ten faithful morphologies, a DECaLS-like look.

Split by job: `looks` (the generator versions and the numbers each one draws with), `catalogue`
(labels and sky metadata), `scene` (flux layers and the building blocks of galaxies), `morphologies`
(one renderer per class, plus field stars and neighbours), `observe` (PSF, sky noise and the Legacy
Surveys colour stretch: one image from (label, seed, index, version)) and `writer` (multiprocess,
resumable, atomic files).

Every image depends only on (version, seed, index), so a file is identical for a seed whatever the
number of worker processes, and an interrupted run resumes where it stopped.
"""
from galaxy_core.data.synthetic.catalogue import GENERATOR, Catalogue, class_counts, make_catalogue
from galaxy_core.data.synthetic.looks import GENERATOR_VERSION, GENERATOR_VERSIONS
from galaxy_core.data.synthetic.observe import legacy_rgb, render_image
from galaxy_core.data.synthetic.writer import BLOCK, generate, partial_path, worker_count

__all__ = ["BLOCK", "GENERATOR", "GENERATOR_VERSION", "GENERATOR_VERSIONS", "Catalogue", "class_counts", "generate",
           "legacy_rgb", "make_catalogue", "partial_path", "render_image", "worker_count"]
