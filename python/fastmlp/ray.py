"""Batch inference on Ray Data (``pip install 'fastmlp[distributed]'``).

``fastmlp.ray.predict(model, dataset)`` returns a lazy ``ray.data.Dataset`` (Ray Data's
``map_batches``): each worker loads the model once, from the bytes of its model file put
in Ray's object store once; the engine is never pickled.
"""
from __future__ import annotations

from ._shipping import load_cached, model_bytes

__all__ = ["predict"]


class _Predict:
    """map_batches' callable: adds ``output_column`` to each numpy batch."""

    def __init__(self, data_ref, feature_column, output_column):
        import ray
        data = ray.get(data_ref) if isinstance(data_ref, ray.ObjectRef) else data_ref
        self.model = load_cached(data)
        self.feature, self.output = feature_column, output_column

    def __call__(self, batch):
        import numpy as np
        x = np.asarray(batch[self.feature])
        if x.dtype == object:  # rows of arrays of one shape
            x = np.stack(list(x))
        out = dict(batch)
        out[self.output] = self.model.predict(x.reshape((len(x),) + self.model._input_shape))
        return out


def predict(model, dataset, feature_column="x", output_column="predictions",
            batch_size=4096, concurrency=None):
    """``model.predict`` over a Ray Dataset, batch by batch.

    Parameters
    ----------
    model : fastmlp.Sequential
        A built model.
    dataset : ray.data.Dataset
        Rows holding the examples in ``feature_column`` (e.g. ``ray.data.from_numpy(x)``
        names it ``"data"``: pass ``feature_column="data"``).
    feature_column, output_column : str
        Where each row's input is read and its output (float32, one value per model
        output) written; the other columns pass through.
    batch_size : int
        Rows per call of the model.
    concurrency : int, optional
        Actors running the model (each loads it once); 1 when None.

    Returns
    -------
    ray.data.Dataset (lazy).
    """
    import ray
    import ray.data
    if not isinstance(dataset, ray.data.Dataset):
        raise TypeError(f"dataset: expected a ray.data.Dataset, got {type(dataset).__name__}")
    for name, v in (("feature_column", feature_column), ("output_column", output_column)):
        if not isinstance(v, str):
            raise TypeError(f"{name}: expected a column name (str), got {type(v).__name__}")
    ref = ray.put(model_bytes(model))
    return dataset.map_batches(_Predict, fn_constructor_args=(ref, feature_column,
                                                               output_column),
                               batch_size=batch_size, batch_format="numpy",
                               concurrency=concurrency if concurrency is not None else 1)
