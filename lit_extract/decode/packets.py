"""One demux pass over a video file, shared by its frame decoder and a listener of its packets.

PyAV's ``container.demux(streams)`` yields the packets of several streams in the file's order.
:class:`PacketPump` runs that pass once for a file: the frame decoder
(:func:`lit_extract.decode.video.iter_frames_pyav`) takes the video stream's packets from
:meth:`PacketPump.video_packets`; a :class:`PacketListener` (the rows' sound,
:mod:`lit_extract.decode.sound`) sees every packet first, video and its own streams alike, so each
file is opened once and each stream decoded once.

A listener may need packets the decoder has not asked for yet: a row's sound lies later in the file
than its last frame when the muxer interleaves the streams in chunks. :meth:`PacketPump.read_ahead`
reads on until the listener has what it needs; the video packets read on the way are kept, in
order, for the decoder (compressed packets, about one interleave chunk: under a second of video in
the files PyAV, FFmpeg and the cameras write).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Protocol


class PacketListener(Protocol):
    """What :class:`PacketPump` tells a listener: the pass starts, each packet, the pass ends."""

    def start(self, container: Any, video: Any, pump: PacketPump) -> list[Any]:
        """The pass over ``container`` starts (``video``: its first video stream); return the other
        streams to demux (may be empty). ``pump`` reads ahead for the listener."""

    def see(self, packet: Any) -> None:
        """A packet of the video stream or of a stream :meth:`start` asked for, in file order."""

    def enough(self) -> bool:
        """True once the listener has read all it needs (the decoder stops the pass after its
        last wanted frame only then)."""

    def end(self, damaged: bool) -> None:
        """No packet follows: the file ended (``damaged`` False) or its container could not be read on."""


class PacketPump:
    """The packets of ``video`` (and of the listener's streams) from one pass over ``container``.

    ``errors``: the exceptions that mean the container cannot be read on (PyAV's ``FFmpegError``,
    and ``IndexError`` from a truncated file): the pass ends there, as at the end of the file.
    ``keep_video`` False: video packets read ahead are dropped (no decoder takes them).
    """

    def __init__(self, container: Any, video: Any, listener: PacketListener | None,
                 errors: tuple[type[BaseException], ...], keep_video: bool = True) -> None:
        self.video, self.listener, self.errors, self.keep_video = video, listener, errors, keep_video
        others = listener.start(container, video, self) if listener is not None else []
        self._packets = container.demux([video, *others])
        self._kept: deque[Any] = deque()
        self.ended = False
        self.at_eof = False  # the pass reached the end of the file (not damage, not a close)

    def _next(self) -> Any | None:
        """The next packet of the pass (seen by the listener), or None once it has ended."""
        if self.ended:
            return None
        try:
            packet = next(self._packets)
        except StopIteration:
            self.at_eof = True
            self._end(damaged=False)
            return None
        except self.errors:
            self._end(damaged=True)
            return None
        if self.listener is not None:
            self.listener.see(packet)
        return packet

    def _end(self, damaged: bool) -> None:
        self.ended = True
        if self.listener is not None:
            self.listener.end(damaged)

    def video_packets(self) -> Iterator[Any]:
        """The video stream's packets in file order: those read ahead first, then the rest of the pass."""
        while True:
            if self._kept:
                yield self._kept.popleft()
                continue
            packet = self._next()
            if packet is None:
                return
            if packet.stream is self.video:
                yield packet

    def close(self) -> None:
        """The decoder is done with the file: the pass ends here (the listener is told, not damaged)."""
        if not self.ended:
            self._end(damaged=False)

    def read_ahead(self, enough: Callable[[], bool]) -> None:
        """Read on until ``enough()`` or the end of the pass, keeping the video packets for the decoder."""
        while not self.ended and not enough():
            packet = self._next()
            if packet is not None and self.keep_video and packet.stream is self.video:
                self._kept.append(packet)
