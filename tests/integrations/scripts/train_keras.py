import os

os.environ["KERAS_BACKEND"] = "torch"

import keras
import numpy as np
from common import FAIL_AT, keep

from kleio.integrations.keras import KleioCallback


class Twin(keras.callbacks.Callback):
    step = 0

    def on_train_batch_end(self, batch, logs=None):
        Twin.step += 1
        keep(Twin.step, {f"batch_{key}": value for key, value in logs.items()})
        if Twin.step == FAIL_AT:
            raise RuntimeError("diverged")

    def on_epoch_end(self, epoch, logs=None):
        keep(Twin.step, logs)


keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse", metrics=["mae"])
x = np.random.rand(8, 4).astype("float32")
y = np.random.rand(8, 2).astype("float32")
model.fit(
    x,
    y,
    epochs=2,
    batch_size=4,
    validation_data=(x, y),
    verbose=0,
    callbacks=[KleioCallback(tags=["tiny"]), Twin()],
)
