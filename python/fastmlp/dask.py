"""Batch inference on Dask collections (``pip install 'fastmlp[distributed]'``).

``fastmlp.dask.predict(model, data)`` returns a lazy Dask collection; nothing runs until
it is computed. The model goes to the workers once, as the bytes of its model file (one
task every block depends on, so each worker fetches it once and loads it once); the
engine itself is never pickled.
"""
from __future__ import annotations

from ._shipping import load_cached, model_bytes, output_dim

__all__ = ["predict"]


def _predict_block(block, data):
    import numpy as np
    model = load_cached(data)
    return model.predict(np.asarray(block).reshape((len(block),) + model._input_shape))


def _predict_frame(frame, data, columns):
    import pandas as pd
    out = _predict_block(frame.to_numpy(), data)
    return pd.DataFrame(out, index=frame.index, columns=columns)


def predict(model, data, columns=None):
    """``model.predict`` over a Dask Array or DataFrame, block by block.

    Parameters
    ----------
    model : fastmlp.Sequential
        A built model (compiled or not).
    data : dask.array.Array or dask.dataframe.DataFrame
        One example per row: an array of shape (N, *input_shape) chunked along rows only
        (other axes are merged into one chunk), or a DataFrame whose columns are the
        features in order.
    columns : list of str, optional
        DataFrame input: the output's column names (default ``"0"``, ``"1"``, ...).

    Returns
    -------
    dask.array.Array of shape (N, outputs) float32, or dask.dataframe.DataFrame with one
    column per output and the input's index.
    """
    import dask
    import dask.array as da
    import numpy as np
    data_bytes = model_bytes(model)
    shipped = dask.delayed(data_bytes, pure=True)  # one task: sent once per worker
    n_out = output_dim(model)
    if isinstance(data, da.Array):
        if data.ndim < 2:
            raise ValueError(f"data: expected a Dask Array of shape (N, ...) with one example "
                             f"per row, got shape {data.shape}")
        whole = {a: -1 for a in range(1, data.ndim)}
        data = data.rechunk(whole)
        return data.map_blocks(_predict_block, shipped, dtype=np.float32,
                               chunks=(data.chunks[0], (n_out,)),
                               drop_axis=list(range(2, data.ndim)) or None,
                               meta=np.empty((0, n_out), np.float32))
    try:
        import dask.dataframe as dd
    except ImportError:
        dd = None
    if dd is not None and isinstance(data, dd.DataFrame):
        import pandas as pd
        names = [str(i) for i in range(n_out)] if columns is None else list(columns)
        if len(names) != n_out:
            raise ValueError(f"columns: expected {n_out} names (one per output), got "
                             f"{len(names)}")
        meta = pd.DataFrame({c: np.empty(0, np.float32) for c in names})
        return data.map_partitions(_predict_frame, shipped, names, meta=meta)
    raise TypeError(f"data: expected a dask.array.Array or dask.dataframe.DataFrame, got "
                    f"{type(data).__name__}")
