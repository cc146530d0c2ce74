"""Where a model looks: Grad-CAM per group, overlays, galleries and the bias-region score.

Captum is imported only when a map is computed, so ``bamu_core`` imports without it.
"""

from ._gallery import (
    SELECTION_RULES,
    Gallery,
    GalleryGroup,
    group_gallery,
    saliency_summary,
    save_gallery,
    select_examples,
)
from ._gradcam import (
    METHODS,
    UPSAMPLE_MODES,
    SaliencyMaps,
    choose_method,
    grad_cam,
    resolve_layer,
)
from ._overlay import colorize, overlay, to_rgb_uint8, write_png
from ._regions import (
    centre_of_mass,
    check_region,
    mask_share,
    mean_saliency,
    region_mask,
    region_share,
)
from ._strip import gradcam_strip, one_per_group

__all__ = [
    "grad_cam",
    "resolve_layer",
    "choose_method",
    "SaliencyMaps",
    "region_share",
    "mask_share",
    "region_mask",
    "check_region",
    "mean_saliency",
    "centre_of_mass",
    "select_examples",
    "group_gallery",
    "save_gallery",
    "saliency_summary",
    "Gallery",
    "GalleryGroup",
    "colorize",
    "to_rgb_uint8",
    "overlay",
    "write_png",
    "SELECTION_RULES",
    "UPSAMPLE_MODES",
    "METHODS",
    "gradcam_strip",
    "one_per_group",
]
