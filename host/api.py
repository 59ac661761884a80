# SPDX-License-Identifier: BSD-2-Clause
"""The Python API: a MemGEN device as a generative model object.

>>> from host import MemGen
>>> with MemGen() as model:                    # the port in $MEMGEN_PORT, or the FTDI board
...     model.fit(images)                       # (N, H, W[, C]) uint8 images
...     samples = model.sample(16, seed=1)      # (16, H, W[, C]) uint8, each a training image

:class:`MemGen` wraps the protocol client :class:`host.device.MemGen` (reachable as
:attr:`MemGen.client`) and the codecs: :meth:`MemGen.fit` stores the same header the
command-line tools store, so ``memgen sample`` and ``memgen info`` understand a model trained
from Python, and :meth:`MemGen.sample` decodes a model trained by ``memgen train``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from hw import protocol
from hw.protocol import State

from . import codecs, loaders
from .codecs import DataError, Dataset, Kind
from .device import DeviceInfo, MemGenError
from .device import MemGen as Client

__all__ = ["MemGen"]

_MODES = ("random", "shuffle", "recite")


class MemGen:
    """A MemGEN device as a model: :meth:`fit` a data set, then :meth:`sample` or
    :meth:`recite` it.

    Parameters
    ----------
    port : str or None
        Serial device or pyserial URL (``/dev/ttyUSB1``, ``COM5``,
        ``socket://127.0.0.1:7777`` for the virtual board); default ``$MEMGEN_PORT``, then
        the first FTDI board found.
    baud : int or None
        Baud rate of a serial port; default the board builds' (3,000,000).
    timeout : float
        Seconds any wait for the device lasts at most.
    link : host.link.Transport or None
        An already open link instead of ``port``.

    Raises
    ------
    host.link.LinkError
        If no port is found or it cannot be opened.
    host.device.MemGenError
        If the device does not answer, or speaks another protocol version.

    Attributes
    ----------
    client : host.device.MemGen
        The protocol client, for what this class does not wrap (``clear``, ``read``,
        ``checksum``, ...).
    """

    def __init__(self, port: str | None = None, baud: int | None = None, *,
                 timeout: float = 2.0, link: Any = None) -> None:
        self.client = Client(port, baud, timeout=timeout, link=link)

    def __enter__(self) -> MemGen:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the port."""
        self.client.close()

    def info(self) -> DeviceInfo:
        """Return the device's state: ``state``, ``capacity`` (bytes), ``count`` (examples
        ``N``), ``record_size`` (bytes), ``header``, error ``counters``, ``clk_freq`` (Hz) and
        ``baud``; see :class:`host.device.DeviceInfo`.

        Raises
        ------
        host.device.MemGenError
            If the device does not answer.
        """
        return self.client.info()

    @property
    def capacity(self) -> int:
        """Bytes the device's store holds."""
        return self.client.opened_info.capacity if self.client.opened_info else \
            self.info().capacity

    def fit(self, data: Any, *, kind: str | None = None, record_size: int | None = None,
            one_shot: bool = False, progress: Callable[[int], None] | None = None,
            **options: Any) -> Dataset:
        """Learn ``data`` by heart: ``N`` training steps for ``N`` examples, verified by the
        device's CRC-32 of its whole store.

        Parameters
        ----------
        data : numpy.ndarray, list of str, bytes, str, os.PathLike or Dataset
            Images as an ``(N, H, W)`` or ``(N, H, W, C)`` array (``C`` up to 4) of
            ``uint8`` or ``uint16``, or of any numbers, converted by
            :func:`host.loaders.to_stored`; other ``(N, ...)`` arrays as array records; text
            lines; raw bytes; a path or name anything the command line reads (an image
            folder, ``.npy``, ``.npz``, IDX, CSV, text, ``pi:1000``, ``digits``); or a
            :class:`~host.codecs.Dataset`.
        kind : str or None
            ``image``, ``text``, ``pi``, ``bytes`` or ``array``; default: inferred.
        record_size : int or None
            Bytes per record for text, pi and bytes.
        one_shot : bool
            Learn text, pi or bytes as one record, to :meth:`recite` it back.
        progress : callable or None
            Called with each number of bytes the device acknowledges.
        **options
            The other options of :class:`host.loaders.Options` (``mode``, ``size``,
            ``dtype``, ``key``, ``shape``, ``first``) for paths and arrays.

        Returns
        -------
        Dataset
            What was learned: ``count`` records of ``record_size`` bytes and the header.

        Raises
        ------
        host.codecs.DataError
            If the data cannot be read or stored, or does not fit the device.
        host.device.MemGenError
            If the device fails or its CRC-32 differs from the data's.
        """
        dataset = self._dataset(data, kind, record_size, one_shot, options)
        capacity = self.capacity
        if dataset.nbytes > capacity:
            raise DataError(f"data set needs {dataset.nbytes} bytes, the device holds "
                            f"{capacity}; use fewer or smaller examples")
        crc = protocol.session_crc(protocol.begin_payload(
            dataset.record_size, dataset.count, dataset.header), dataset.records)
        device_crc = self.client.train(dataset.records, dataset.record_size, dataset.header,
                                       progress=progress)
        if device_crc != crc:
            raise MemGenError(f"the device's CRC-32 {device_crc:#010x} differs from the "
                              f"data's {crc:#010x}; fit again")
        return dataset

    def _dataset(self, data: Any, kind: str | None, record_size: int | None,
                 one_shot: bool, options: dict) -> Dataset:
        if isinstance(data, Dataset):
            return data
        if isinstance(data, (str, os.PathLike)):
            opts = loaders.Options(kind=kind, record_size=record_size, one_shot=one_shot,
                                   **options)
            return loaders.prepare(data, opts).load(self.capacity)
        if isinstance(data, np.ndarray):
            array = loaders.to_stored(data, dtype=options.get("dtype"), name="data")
            if kind is None:
                image = array.ndim == 3 or (array.ndim == 4 and array.shape[3] <= 4)
                kind = "image" if image else "array"
            return codecs.encode_images(array, kind=codecs._kind(kind))
        return codecs.load(data, kind=kind, record_size=record_size, one_shot=one_shot)

    def _header(self) -> tuple[DeviceInfo, codecs.Header]:
        info = self.info()
        if info.state != State.READY:
            raise MemGenError(f"the device cannot sample (state: {info.state.name.lower()}): "
                              f"fit a data set first")
        return info, codecs.Header.unpack(info.header)

    def sample(self, n: int, mode: str = "random", seed: int = 0) -> Any:
        """Return ``n`` samples, each one of the training examples, in the data's own form.

        Parameters
        ----------
        n : int
            Number of samples, 1 or more.
        mode : str
            ``random`` (uniform, with replacement), ``shuffle`` (each example once per epoch)
            or ``recite`` (in order).
        seed : int
            0 to 2**64 - 1: the same seed gives the same samples.

        Returns
        -------
        numpy.ndarray or list of str
            Images and arrays as ``(n, *shape)`` of the learned dtype; text lines as a list
            of ``n`` str; pi digits, bytes and one-shot text as an ``(n, record_size)``
            ``uint8`` array of whole records.

        Raises
        ------
        ValueError
            If ``n`` or ``mode`` is invalid.
        host.device.MemGenError
            If the device is not trained or fails.
        host.codecs.DataError
            If the device's header is not one MemGEN wrote.
        """
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {', '.join(_MODES)}, not {mode!r}")
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer, not {n!r}")
        info, meta = self._header()
        data = self.client.sample(int(n), mode, seed, record_size=info.record_size)
        if meta.kind in (Kind.IMAGE, Kind.ARRAY) or (
                meta.kind == Kind.TEXT and not meta.flags & codecs.Flag.ONE_SHOT):
            return codecs.decode(meta, data, int(n))
        return np.frombuffer(data, np.uint8).reshape(int(n), info.record_size).copy()

    def recite(self) -> Any:
        """Return the whole learned data set, in order and in its original form: images and
        arrays as ``(N, *shape)``, text lines as a list of str, one-shot text, pi digits and
        bytes as the original bytes (padding stripped).

        Raises
        ------
        host.device.MemGenError
            If the device is not trained or fails.
        """
        info, meta = self._header()
        data = self.client.sample(info.count, "recite", 0, record_size=info.record_size)
        return codecs.decode(meta, data, info.count, whole=True)

    def describe(self) -> codecs.Header | None:
        """Return the learned data set's header as a :class:`host.codecs.Header`, or None if
        the device holds no model."""
        info = self.info()
        if info.state == State.EMPTY:
            return None
        try:
            return codecs.Header.unpack(info.header)
        except DataError:
            return None
