"""Reference for seed 000: the Keras "naive" Inception module.

Seed 000 (Chinese article on the Inception idea) defines ``inception_module``
with four branches (1x1; 1x1 -> 3x3; 1x1 -> 5x5; 3x3 max pool -> 1x1), every
convolution with bias, ``padding="same"`` and ReLU, concatenated on the channel
axis. Applied to a 256x256x3 input with (64, 96, 128, 16, 32, 32) its
``model.summary()`` reports 124,384 parameters (all trainable); output
256x256x256.
"""

from __future__ import annotations

import keras
from keras import layers

SEED_TOTAL_PARAMS = 124_384


def inception_module(
    layer_in,
    f1: int,
    f2_in: int,
    f2_out: int,
    f3_in: int,
    f3_out: int,
    f4_out: int,
):
    """The seed's naive module, verbatim apart from the Keras 3 import path."""
    conv1 = layers.Conv2D(f1, (1, 1), padding="same", activation="relu")(layer_in)
    conv3 = layers.Conv2D(f2_in, (1, 1), padding="same", activation="relu")(layer_in)
    conv3 = layers.Conv2D(f2_out, (3, 3), padding="same", activation="relu")(conv3)
    conv5 = layers.Conv2D(f3_in, (1, 1), padding="same", activation="relu")(layer_in)
    conv5 = layers.Conv2D(f3_out, (5, 5), padding="same", activation="relu")(conv5)
    pool = layers.MaxPooling2D((3, 3), strides=(1, 1), padding="same")(layer_in)
    pool = layers.Conv2D(f4_out, (1, 1), padding="same", activation="relu")(pool)
    # concatenate filters, assumes filters/channels last
    return layers.concatenate([conv1, conv3, conv5, pool], axis=-1)


def build_keras(input_shape: tuple[int, int, int] = (256, 256, 3)) -> keras.Model:
    """Seed 000's model: one naive module (64, 96->128, 16->32, pool->32)."""
    visible = keras.Input(shape=input_shape)
    layer = inception_module(visible, 64, 96, 128, 16, 32, 32)
    return keras.Model(inputs=visible, outputs=layer)
