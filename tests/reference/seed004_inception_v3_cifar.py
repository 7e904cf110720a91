"""Reference for seed 004: Keras Inception v3 adapted to CIFAR-10.

Seed 004 (Chinese blog post, "[Keras] Classification in CIFAR-10" series)
gives the full Keras code of an Inception v3 for 32x32x3 inputs and 10
classes, plus two variants. Published ``model.summary()`` figures:

* ``"full"`` (section 2.1, Inception_v3): total 23,397,866, trainable
  23,359,978, non-trainable 37,888.
* ``"slim"`` (section 2.2, Inception_v3_slim): the whole stem replaced by one
  3x3/1 ``same`` 192-channel convolution (bias, no batch norm, no activation);
  total 23,229,370, trainable 23,192,282, non-trainable 37,088.
* ``"slim352"`` (section 2.3, Inception_v3_slim_352): slim stem, and the
  repeated modules given identical parameters: 3x module 1 with the 3b/3c
  parameters (pool branch 64), 5x module 2 with the 4a parameters (128
  channels in the 7x7 branches); total 21,215,770, trainable 21,180,538,
  non-trainable 35,232.

Quirks kept on purpose (they are what the published figures count):

* ``conv_block`` (every 1x7 / 7x1 / 1x3 / 3x1 convolution) has no bias; all
  other convolutions have a bias (``use_bias=True``), even though each is
  followed by batch norm.
* Every batch norm is ``BatchNormalization(momentum=0.9, epsilon=1e-5)``
  (center and scale on: 4 weights per channel, 2 of them non-trainable).
* Module 1's third branch is 1x1 (branch3[0]) -> 3x3 (branch3[1]) -> 3x3
  (branch3[1] again; the seed never reads a third entry).
* Every convolution and pooling uses ``padding="same"``, including the
  stride-2 ones (the seed: "valid 都用的 same").
* Module 3 concatenates six tensors in the order 1x1, 1x3, 3x1 (branch 2),
  1x3, 3x1 (branch 3), pool.
* The slim stem convolution has no batch norm and no activation.
* Head: global average pooling, Dropout(0.2), Dense(10, softmax).
* L2(1e-4) on kernels (and on biases inside the Inception modules); he_normal.
"""

from __future__ import annotations

import keras
from keras import layers, regularizers

NUM_CLASSES = 10
DROPOUT = 0.2
CONCAT_AXIS = 3
WEIGHT_DECAY = 1e-4
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5

#: (total, trainable, non-trainable) as printed in the seed's summaries.
SEED_COUNTS = {
    "full": (23_397_866, 23_359_978, 37_888),
    "slim": (23_229_370, 23_192_282, 37_088),
    "slim352": (21_215_770, 21_180_538, 35_232),
}

VARIANTS = ("full", "slim", "slim352")


def _bn_relu(x):
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON)(x)
    return layers.Activation("relu")(x)


def conv_block(x, nb_filter, nb_row, nb_col, border_mode="same", subsample=(1, 1)):
    """Seed's ``conv_block``: conv (no bias, he_normal, L2) -> BN -> ReLU."""
    x = layers.Conv2D(
        nb_filter,
        (nb_row, nb_col),
        strides=subsample,
        padding=border_mode,
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=regularizers.l2(WEIGHT_DECAY),
    )(x)
    return _bn_relu(x)


def _conv(x, filters, kernel_size, strides=1):
    """The Inception modules' Conv2D (bias on, L2 on kernel and bias) -> BN -> ReLU."""
    x = layers.Conv2D(
        filters=filters,
        kernel_size=kernel_size,
        strides=strides,
        padding="same",
        use_bias=True,
        kernel_initializer="he_normal",
        bias_initializer="zeros",
        kernel_regularizer=regularizers.l2(WEIGHT_DECAY),
        bias_regularizer=regularizers.l2(WEIGHT_DECAY),
    )(x)
    return _bn_relu(x)


def _avg_pool(x):
    return layers.AveragePooling2D(pool_size=(3, 3), strides=1, padding="same")(x)


def _max_pool_s2(x):
    return layers.MaxPooling2D(pool_size=(3, 3), strides=2, padding="same")(x)


def inception_module1(x, params):
    (branch1, branch2, branch3, branch4) = params
    # 1x1
    pathway1 = _conv(x, branch1[0], (1, 1))
    # 1x1->3x3
    pathway2 = _conv(x, branch2[0], (1, 1))
    pathway2 = _conv(pathway2, branch2[1], (3, 3))
    # 1x1->3x3+3x3 (the second 3x3 reuses branch3[1], as in the seed)
    pathway3 = _conv(x, branch3[0], (1, 1))
    pathway3 = _conv(pathway3, branch3[1], (3, 3))
    pathway3 = _conv(pathway3, branch3[1], (3, 3))
    # 3x3 avg pool->1x1
    pathway4 = _conv(_avg_pool(x), branch4[0], (1, 1))
    return layers.concatenate([pathway1, pathway2, pathway3, pathway4], axis=CONCAT_AXIS)


def inception_reduce1(x, params):
    (branch1, branch2) = params
    # 3x3 stride 2
    pathway1 = _conv(x, branch1[0], (3, 3), strides=2)
    # 1x1->3x3->3x3 stride 2
    pathway2 = _conv(x, branch2[0], (1, 1))
    pathway2 = _conv(pathway2, branch2[1], (3, 3))
    pathway2 = _conv(pathway2, branch2[1], (3, 3), strides=2)
    # 3x3 max pool stride 2
    pathway3 = _max_pool_s2(x)
    return layers.concatenate([pathway1, pathway2, pathway3], axis=CONCAT_AXIS)


def inception_module2(x, params):
    (branch1, branch2, branch3, branch4) = params
    # 1x1
    pathway1 = _conv(x, branch1[0], (1, 1))
    # 1x1->1x7->7x1
    pathway2 = _conv(x, branch2[0], (1, 1))
    pathway2 = conv_block(pathway2, branch2[1], 1, 7)
    pathway2 = conv_block(pathway2, branch2[2], 7, 1)
    # 1x1->7x1->1x7->7x1->1x7
    pathway3 = _conv(x, branch3[0], (1, 1))
    pathway3 = conv_block(pathway3, branch3[1], 7, 1)
    pathway3 = conv_block(pathway3, branch3[2], 1, 7)
    pathway3 = conv_block(pathway3, branch3[3], 7, 1)
    pathway3 = conv_block(pathway3, branch3[4], 1, 7)
    # 3x3 avg pool->1x1
    pathway4 = _conv(_avg_pool(x), branch4[0], (1, 1))
    return layers.concatenate([pathway1, pathway2, pathway3, pathway4], axis=CONCAT_AXIS)


def inception_reduce2(x, params):
    (branch1, branch2) = params
    # 1x1->3x3 stride 2
    pathway1 = _conv(x, branch1[0], (1, 1))
    pathway1 = _conv(pathway1, branch1[1], (3, 3), strides=2)
    # 1x1->1x7->7x1->3x3 stride 2
    pathway2 = _conv(x, branch2[0], (1, 1))
    pathway2 = conv_block(pathway2, branch2[1], 1, 7)
    pathway2 = conv_block(pathway2, branch2[2], 7, 1)
    pathway2 = _conv(pathway2, branch2[3], (3, 3), strides=2)
    # 3x3 max pool stride 2
    pathway3 = _max_pool_s2(x)
    return layers.concatenate([pathway1, pathway2, pathway3], axis=CONCAT_AXIS)


def inception_module3(x, params):
    (branch1, branch2, branch3, branch4) = params
    # 1x1
    pathway1 = _conv(x, branch1[0], (1, 1))
    # 1x1->1x3+3x1
    pathway2 = _conv(x, branch2[0], (1, 1))
    pathway2_1 = conv_block(pathway2, branch2[1], 1, 3)
    pathway2_2 = conv_block(pathway2, branch2[2], 3, 1)
    # 1x1->3x3->1x3+3x1
    pathway3 = _conv(x, branch3[0], (1, 1))
    pathway3 = _conv(pathway3, branch3[1], (3, 3))
    pathway3_1 = conv_block(pathway3, branch3[2], 1, 3)
    pathway3_2 = conv_block(pathway3, branch3[3], 3, 1)
    # 3x3 avg pool->1x1
    pathway4 = _conv(_avg_pool(x), branch4[0], (1, 1))
    return layers.concatenate(
        [pathway1, pathway2_1, pathway2_2, pathway3_1, pathway3_2, pathway4],
        axis=CONCAT_AXIS,
    )


def _stem_conv(x, filters, kernel_size, strides):
    """Stem Conv2D: default bias on, L2 on the kernel only, he_normal."""
    return layers.Conv2D(
        filters,
        kernel_size=kernel_size,
        strides=strides,
        padding="same",
        kernel_initializer="he_normal",
        kernel_regularizer=regularizers.l2(WEIGHT_DECAY),
    )(x)


M1_3A = [(64,), (48, 64), (64, 96), (32,)]
M1_3BC = [(64,), (48, 64), (64, 96), (64,)]
R1 = [(384,), (64, 96)]
M2_4A = [(192,), (128, 128, 192), (128, 128, 128, 128, 192), (192,)]
M2_4BCD = [(192,), (160, 160, 192), (160, 160, 160, 160, 192), (192,)]
M2_4E = [(192,), (192, 192, 192), (192, 192, 192, 192, 192), (192,)]
R2 = [(192, 320), (192, 192, 192, 192)]
M3 = [(320,), (384, 384, 384), (448, 384, 384, 384), (192,)]


def create_model(img_input, variant: str = "full"):
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if variant == "full":
        x = _bn_relu(_stem_conv(img_input, 32, (3, 3), (2, 2)))
        x = _bn_relu(_stem_conv(x, 32, (3, 3), (1, 1)))
        x = _bn_relu(_stem_conv(x, 64, (3, 3), (1, 1)))
        x = _max_pool_s2(x)
        x = _bn_relu(_stem_conv(x, 80, (1, 1), (1, 1)))
        x = _bn_relu(_stem_conv(x, 192, (3, 3), (1, 1)))
        x = _max_pool_s2(x)
    else:
        # slim stem: a single convolution, no BN, no activation
        x = _stem_conv(img_input, 192, (3, 3), (1, 1))

    if variant == "slim352":
        for _ in range(3):
            x = inception_module1(x, M1_3BC)  # 3a-3c 288
        x = inception_reduce1(x, R1)  # 768
        for _ in range(5):
            x = inception_module2(x, M2_4A)  # 4a-4e 768
        x = inception_reduce2(x, R2)  # 1280
        for _ in range(2):
            x = inception_module3(x, M3)  # 5a-5b 2048
    else:
        x = inception_module1(x, M1_3A)  # 3a 256
        x = inception_module1(x, M1_3BC)  # 3b 288
        x = inception_module1(x, M1_3BC)  # 3c 288
        x = inception_reduce1(x, R1)  # 768
        x = inception_module2(x, M2_4A)  # 4a 768
        x = inception_module2(x, M2_4BCD)  # 4b 768
        x = inception_module2(x, M2_4BCD)  # 4c 768
        x = inception_module2(x, M2_4BCD)  # 4d 768
        x = inception_module2(x, M2_4E)  # 4e 768
        x = inception_reduce2(x, R2)  # 1280
        x = inception_module3(x, M3)  # 2048
        x = inception_module3(x, M3)  # 2048

    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(DROPOUT)(x)
    return layers.Dense(
        NUM_CLASSES,
        activation="softmax",
        kernel_initializer="he_normal",
        kernel_regularizer=regularizers.l2(WEIGHT_DECAY),
    )(x)


def build_keras(variant: str = "full") -> keras.Model:
    """Build seed 004's model: ``"full"``, ``"slim"`` or ``"slim352"``."""
    variant = {"slim_352": "slim352"}.get(variant, variant)
    img_input = keras.Input(shape=(32, 32, 3))
    output = create_model(img_input, variant)
    return keras.Model(img_input, output, name=f"inception_v3_cifar_{variant}")
