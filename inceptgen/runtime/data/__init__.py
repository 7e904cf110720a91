"""Image-classification data for training generated CNNs, as numpy arrays.

Both the PyTorch and the Keras training loops get their data from here, so they see
identical arrays: images are `uint8` NCHW until :func:`normalize` turns a batch into
`float32`; labels are `int64`. One module per job:

* :mod:`.cifar` - CIFAR-10 and CIFAR-100 pickles, from a folder or the official archive;
* :mod:`.unpickle` - the restricted unpickler those pickles are read with;
* :mod:`.folders` - image folders (ImageNet layout), indexed, then decoded per batch;
* :mod:`.download` - the official archives, MD5-checked, and safe tar extraction;
* :mod:`.transforms` - subsets, statistics, normalisation and augmentation;
* :mod:`.resolve` - what a `--data` argument names.
"""

from __future__ import annotations

from inceptgen.runtime.data.cifar import CIFAR10, CIFAR100, load_cifar, load_cifar10, load_cifar100
from inceptgen.runtime.data.dataset import Dataset, Split
from inceptgen.runtime.data.download import (
    ARCHIVES,
    default_cache_dir,
    download_archive,
    download_cifar10,
    safe_extract,
)
from inceptgen.runtime.data.errors import DataError
from inceptgen.runtime.data.folders import MAX_IMAGE_PIXELS, decode_image, load_image_folder, scan_image_folder
from inceptgen.runtime.data.resolve import resolve_data
from inceptgen.runtime.data.transforms import (
    CropFlip,
    apply_crop_flip,
    augment,
    balanced_indices,
    balanced_subset,
    batches,
    channel_stats,
    draw_crop_flip,
    normalize,
    to_nhwc,
)

__all__ = [
    "ARCHIVES",
    "CIFAR10",
    "CIFAR100",
    "MAX_IMAGE_PIXELS",
    "CropFlip",
    "DataError",
    "Dataset",
    "Split",
    "apply_crop_flip",
    "augment",
    "balanced_indices",
    "balanced_subset",
    "batches",
    "channel_stats",
    "decode_image",
    "default_cache_dir",
    "download_archive",
    "download_cifar10",
    "draw_crop_flip",
    "load_cifar",
    "load_cifar10",
    "load_cifar100",
    "load_image_folder",
    "normalize",
    "resolve_data",
    "safe_extract",
    "scan_image_folder",
    "to_nhwc",
]
