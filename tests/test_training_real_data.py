"""Real data: Fashion-MNIST (Debian package dataset-fashion-mnist). A 784-256-128-10 MLP
must reach >= 88% test accuracy within 5 epochs. Missing data fails under CI (env CI set)
and skips elsewhere."""
import numpy as np
import pytest

import fastmlp as fm


def test_fashion_mnist_reaches_88_percent_within_5_epochs(fashion):
    xtr, ytr, xte, yte = fashion
    assert xtr.shape == (60000, 28, 28) and xte.shape == (10000, 28, 28)
    model = fm.Sequential([
        fm.Rescaling(1 / 255), fm.Flatten(),
        fm.Dense(256, activation="relu", kernel_initializer="he_uniform"),
        fm.Dense(128, kernel_initializer="he_uniform"), fm.ReLU(),
        fm.Dense(10), fm.Softmax(),
    ], input_shape=(28, 28), seed=0)
    model.compile(optimizer=fm.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])

    class StopAt88(fm.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs["val_accuracy"] >= 0.88:
                self.model.stop_training = True

    def halve_lr_from_epoch_3(epoch, logs=None):  # also exercises changing lr mid-fit
        if epoch >= 2:
            model.optimizer.learning_rate *= 0.5

    # Measured here (seeds 0, 1, 2): 88.3-88.5% after 5 epochs; PyTorch with the same
    # setting but a constant learning rate ends near 87.7%.
    # One thread: results do not depend on it (see test_thread_count_invariance), and on a
    # shared 2-core CI machine a single thread keeps this test's wall time predictable.
    before = fm.get_num_threads()
    fm.set_num_threads(1)
    try:
        h = model.fit(xtr, ytr, batch_size=64, epochs=5, validation_data=(xte, yte), seed=0,
                      verbose=0,
                      callbacks=[fm.callbacks.LambdaCallback(on_epoch_begin=halve_lr_from_epoch_3),
                                 StopAt88()])
    finally:
        fm.set_num_threads(before)
    acc = model.evaluate(xte, yte)["accuracy"]
    assert acc >= 0.88, f"test accuracy {acc:.4f} after {len(h.history['loss'])} epochs"
    assert h.history["val_accuracy"][-1] == pytest.approx(acc)
    # predict agrees with evaluate
    pred = model.predict(xte)
    assert np.mean(pred.argmax(axis=1) == yte) == pytest.approx(acc)


def test_regularised_recipe_reaches_89_5_percent_within_20_epochs(fashion):
    # the README's recipe: Dropout after each hidden layer and a cosine schedule (issue 11)
    xtr, ytr, xte, yte = fashion
    steps = 20 * -(-len(xtr) // 64)
    model = fm.Sequential([fm.Rescaling(1 / 255), fm.Flatten(),
                           fm.Dense(256, activation="relu"), fm.Dropout(0.2),
                           fm.Dense(128, activation="relu"), fm.Dropout(0.2),
                           fm.Dense(10, activation="softmax")], input_shape=(28, 28), seed=0)
    model.compile(optimizer=fm.optimizers.Adam(fm.optimizers.schedules.CosineDecay(1e-3, steps)),
                  loss="sparse_categorical_crossentropy")
    model.fit(xtr, ytr, batch_size=64, epochs=20, seed=0, verbose=0)
    acc = model.evaluate(xte, yte)["accuracy"]
    assert acc >= 0.895, acc
