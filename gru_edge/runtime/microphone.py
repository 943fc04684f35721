"""The live source: a microphone read through sounddevice (PortAudio), watched as a device left
alone for months needs.

Its callback only copies the block into a bounded queue, so the audio thread never waits on
the model; blocks the queue cannot take are dropped and counted, as are the device's own
overflows. The microphone counts as lost when its stream ends by itself (the device or the
audio server went away) or when no block comes for `watchdog_seconds` (the server froze, the
device stalled); the source then raises `MicrophoneError`, or re-opens the device until it is
back. No PortAudio call that talks to the audio server is made in the caller's thread (see
`_portaudio`), so a frozen server can never keep the caller from stopping.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from gru_edge.audio import SAMPLE_RATE
from gru_edge.errors import ConfigError
from gru_edge.extras import require
from gru_edge.runtime.sources import Resampler, Source, SourceError

log = logging.getLogger(__name__)

# How long a PortAudio call that talks to the audio server (start, open) may take before the
# server counts as not answering: ~0.3 s when it answers.
ANSWER_SECONDS = 10.0
# How long closing a stream may take before it is left behind: short when the source is
# closed, because a listener told to stop must be gone within a second; longer for a lost
# stream closed to re-open the device, which a server that froze for a moment may still allow.
CLOSE_SECONDS = 0.5
LOST_CLOSE_SECONDS = 2.0
# Re-opening a lost microphone waits this long before the first try, twice as long before each
# next one, up to the most.
FIRST_RETRY_SECONDS = 0.5
MOST_RETRY_SECONDS = 30.0
# Lost audio (blocks dropped, device overflows) is said at once, then at most once a minute.
LOSS_REPORT_SECONDS = 60.0


class MicrophoneError(SourceError):
    """The microphone stopped giving audio: its stream ended, no audio came for a while, or it
    could not be opened again."""


_left_running: list[threading.Thread] = []  # PortAudio calls given up on


def _portaudio(seconds: float, work: Callable[[], Any], late: Callable[[Any], None] | None = None):
    """Runs the PortAudio call `work` in a daemon thread and waits at most `seconds` for it:
    (True, its result), or (False, None) when it did not finish in time; its exceptions are
    raised here.

    A frozen audio server keeps PortAudio's calls (start, open, stop, close) from ever
    returning, and a thread stuck in one never again runs Python code: in the main thread,
    not even the signal handler that stops a listener. So those calls run here, where the
    caller can give up on them and go on, or leave (see `portaudio_left_running`). `late`
    gets the result of a call that finished after the caller gave up (a stream that nobody
    holds, to close)."""
    lock = threading.Lock()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            result = work()
        except BaseException as e:  # noqa: BLE001 - handed to the caller, who raises it
            with lock:
                outcome["error"] = e
            return
        with lock:
            outcome["result"] = result
            abandoned = outcome.get("abandoned", False)
        if abandoned and late is not None:
            late(result)

    thread = threading.Thread(target=run, name="portaudio", daemon=True)
    thread.start()
    try:
        thread.join(seconds)  # a signal still interrupts the wait
    finally:
        with lock:
            finished = "result" in outcome or "error" in outcome
            outcome["abandoned"] = not finished
        if not finished:
            _left_running.append(thread)
    if "error" in outcome:
        raise outcome["error"]
    return finished, outcome.get("result")


def portaudio_left_running() -> bool:
    """Whether a PortAudio call given up on (a frozen or vanished audio stack) still runs.

    A program should then leave with `os._exit` (after flushing its output): finalizing
    Python and the C libraries under a stuck PortAudio or PulseAudio thread can hang or crash
    the process (seen here: a segfault at exit after a lost stream would not close)."""
    _left_running[:] = [thread for thread in _left_running if thread.is_alive()]
    return bool(_left_running)


def _sounddevice():
    # Importing sounddevice starts PortAudio, which asks the audio server for its devices and
    # waits for it (see _portaudio). sounddevice sends file descriptor 2 to /dev/null meanwhile,
    # to hide ALSA's chatter, and restores it when the start returns: after a start that never
    # returns, it is restored here, or our own error would go unseen.
    saved_stderr = os.dup(2)
    try:
        done, sd = _portaudio(
            ANSWER_SECONDS,
            lambda: require("sounddevice", "mic", "the microphone", system_library="libportaudio2"),
        )
        if not done:
            os.dup2(saved_stderr, 2)
            raise MicrophoneError(
                f"PortAudio did not start within {ANSWER_SECONDS:g} s: the audio server "
                "does not answer (is it frozen?): restart the audio server"
            )
        return sd
    finally:
        os.close(saved_stderr)


def input_devices() -> list[dict]:
    """The audio input devices: index, name, channels, default rate, whether it is the default."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()  # PortAudio's list, made when it started: no waiting
        default = sd.default.device[0]
    except sd.PortAudioError as e:
        raise SourceError(f"PortAudio cannot list audio devices: {e}") from None
    return [
        {
            "index": i,
            "name": d["name"],
            "channels": d["max_input_channels"],
            "default_rate": d["default_samplerate"],
            "default": i == default,
        }
        for i, d in enumerate(devices)
        if d["max_input_channels"] > 0
    ]


@dataclass
class _Opening:
    """One opening of the device: its PortAudio stream and what it was opened with."""

    stream: Any
    ended: threading.Event  # set by PortAudio when the stream stops by itself
    description: str
    resample: Resampler


class MicrophoneSource(Source):
    """A live input device, by index or by (part of) its name; the system default if None.

    Blocks come every `block_ms`, the first one about 1.3 s after the start through PulseAudio;
    `watchdog_seconds` is well above both, and short enough that a server killed before the
    first block (PortAudio then keeps the stream open, silent) is noticed within seconds.
    With `reconnect_seconds` None, a lost microphone raises `MicrophoneError` (a service
    manager restarts the listener). Otherwise it is re-opened, first after half a second, then
    with doubling waits, and iteration goes on once audio is back; after `reconnect_seconds`
    without it, `MicrophoneError`: a fresh start lists the devices anew (PortAudio lists them
    once, when it starts), which finds a device that came back under another name or number.
    """

    def __init__(
        self,
        device: int | str | None = None,
        block_ms: float = 100.0,
        sample_rate: int = SAMPLE_RATE,
        queue_seconds: float = 10.0,
        watchdog_seconds: float = 3.0,
        reconnect_seconds: float | None = None,
    ) -> None:
        if watchdog_seconds <= 0 or (reconnect_seconds is not None and reconnect_seconds <= 0):
            raise ConfigError(
                f"microphone watchdog {watchdog_seconds:g} s, reconnecting for "
                f"{reconnect_seconds} s: each must be a positive number of seconds"
            )
        self._sd = _sounddevice()
        self.device = self._resolve(device)
        self.block_ms = block_ms
        self.sample_rate = sample_rate
        self.watchdog_seconds = watchdog_seconds
        self.reconnect_seconds = reconnect_seconds
        self.blocks: queue.Queue[np.ndarray] = queue.Queue(
            maxsize=max(1, round(queue_seconds * 1000 / block_ms))
        )
        self.overflows = 0  # the device lost samples before we got them
        self.dropped = 0  # blocks lost because the consumer fell behind
        self.reconnects = 0  # times audio came back after the microphone was lost
        self._losses_said = (0, 0, -LOSS_REPORT_SECONDS)  # dropped, overflows, when
        self._generation = 0  # of the current opening: callbacks of older ones stop
        self._last_block = time.monotonic()
        self._opening: _Opening | None = None
        self._open()
        self.description = self._opening.description

    def _resolve(self, device: int | str | None) -> int:
        devices = input_devices()
        if not devices:
            raise SourceError(
                "no audio input device found: connect a microphone (PortAudio "
                "sees none; `gru-edge devices` lists what it sees)"
            )
        if device is None:
            default = [d["index"] for d in devices if d["default"]]
            return default[0] if default else devices[0]["index"]
        if isinstance(device, int) or str(device).isdigit():
            index = int(device)
            if index not in [d["index"] for d in devices]:
                raise SourceError(
                    f"no input device with index {index}; inputs: "
                    f"{[(d['index'], d['name']) for d in devices]}"
                )
            return index
        matches = [d for d in devices if str(device).lower() in d["name"].lower()]
        if not matches:
            raise SourceError(
                f"no input device named like {device!r}; inputs: {[d['name'] for d in devices]}"
            )
        return matches[0]["index"]

    def _open(self) -> None:
        """Opens and starts the device's stream, or raises `SourceError`."""
        self._generation += 1
        generation = self._generation
        name = self._sd.query_devices(self.device, "input")["name"]
        self._last_block = time.monotonic()  # the watchdog counts from the start
        try:
            done, opening = _portaudio(
                ANSWER_SECONDS, lambda: self._start(generation), late=self._close_late
            )
        except self._sd.PortAudioError as e:
            raise SourceError(f"cannot open microphone {name!r}: {e}") from None
        if not done:
            raise MicrophoneError(
                f"the audio server did not open microphone {name!r} within "
                f"{ANSWER_SECONDS:g} s: it does not answer"
            )
        self._opening = opening

    def _start(self, generation: int) -> _Opening:
        """Opens the stream (in a `_portaudio` thread), at 16 kHz or else the device's own rate."""
        sd = self._sd
        info = sd.query_devices(self.device, "input")
        rate = self.sample_rate
        try:
            sd.check_input_settings(
                device=self.device, channels=1, dtype="float32", samplerate=rate
            )
        except sd.PortAudioError:
            rate = int(info["default_samplerate"])
        description = f"microphone {info['name']!r} at {rate} Hz"
        resample = Resampler(rate, self.sample_rate, f"input device {info['name']!r}", "mic")

        def callback(indata, frames, when, status) -> None:
            if generation != self._generation:  # a stream left behind came back to life
                raise sd.CallbackAbort
            self._last_block = time.monotonic()
            if status.input_overflow:
                self.overflows += 1
            try:
                self.blocks.put_nowait(indata[:, 0].copy())
            except queue.Full:
                self.dropped += 1

        ended = threading.Event()
        stream = sd.InputStream(
            device=self.device,
            channels=1,
            dtype="float32",
            samplerate=rate,
            blocksize=max(1, round(self.block_ms * rate / 1000)),
            callback=callback,
            finished_callback=ended.set,
        )
        try:
            stream.start()
        except BaseException:
            stream.close()
            raise
        return _Opening(stream, ended, description, resample)

    @staticmethod
    def _close_late(opening: _Opening) -> None:
        opening.stream.close()

    def __iter__(self) -> Iterator[np.ndarray]:
        lost_at = None  # while the microphone is lost: since when
        delay = FIRST_RETRY_SECONDS
        flowing = False
        while self._opening is not None:
            try:
                block = self._next_block()
            except MicrophoneError as lost:
                if self.reconnect_seconds is None:
                    raise
                if lost_at is None:
                    lost_at = time.monotonic()
                    log.warning("%s; re-opening it, for up to %g s", lost, self.reconnect_seconds)
                if not self._close_opening(LOST_CLOSE_SECONDS):
                    raise MicrophoneError(
                        f"{lost}; PortAudio did not let go of it: giving up (a fresh start "
                        "has a PortAudio of its own)"
                    ) from None
                delay = self._reopen(lost, lost_at, delay)
                continue
            if block is None:  # closed meanwhile
                return
            if not flowing:
                log.debug("audio is flowing from %s", self.description)
                flowing = True
            if lost_at is not None:
                self.reconnects += 1
                log.warning(
                    "audio is back: %s, %.1f s after it was lost",
                    self.description,
                    time.monotonic() - lost_at,
                )
                lost_at, delay = None, FIRST_RETRY_SECONDS
            self._say_losses()
            yield self._opening.resample(block)

    def _say_losses(self) -> None:
        """A warning when audio was lost since the last one (the spotter fell behind, or the
        device overflowed), at most once every LOSS_REPORT_SECONDS: a device left alone says
        in its journal that it went deaf for a moment."""
        dropped, overflows, said_at = self._losses_said
        now = time.monotonic()
        if (self.dropped, self.overflows) == (
            dropped,
            overflows,
        ) or now - said_at < LOSS_REPORT_SECONDS:
            return
        log.warning(
            "audio lost: %d block(s) dropped (the spotter fell behind) and %d input "
            "overflow(s) of the device since the last report",
            self.dropped - dropped,
            self.overflows - overflows,
        )
        self._losses_said = (self.dropped, self.overflows, now)

    def _next_block(self) -> np.ndarray | None:
        """The next block, None once closed, or `MicrophoneError` when the device is lost."""
        while True:
            opening = self._opening
            if opening is None:
                return None
            try:
                return self.blocks.get(timeout=0.1)
            except queue.Empty:
                pass
            if opening.ended.is_set():
                raise MicrophoneError(
                    f"the input stream of {opening.description} ended: the device or the "
                    "audio server went away"
                )
            silent = time.monotonic() - self._last_block
            if silent > self.watchdog_seconds:
                raise MicrophoneError(
                    f"no audio from {opening.description} for {self.watchdog_seconds:g} s: "
                    "the device or the audio server stopped delivering it"
                )

    def _reopen(self, lost: MicrophoneError, lost_at: float, delay: float) -> float:
        """Tries to open the device again, with doubling waits, until it opens (the wait
        before the next try, should audio not come) or `reconnect_seconds` have passed."""
        while True:
            left = lost_at + self.reconnect_seconds - time.monotonic()
            if left <= 0:
                raise MicrophoneError(
                    f"{lost}; not back after {self.reconnect_seconds:g} s of re-opening it: "
                    "giving up (a fresh start looks for the device anew)"
                )
            time.sleep(min(delay, left))
            delay = min(2 * delay, MOST_RETRY_SECONDS)
            try:
                self._open()
            except SourceError as e:
                log.info("re-opening the microphone failed: %s", e)
                continue
            self.description = self._opening.description
            return delay

    def _close_opening(self, seconds: float) -> bool:
        """Closes the current stream, waiting for it at most `seconds`: whether it closed."""
        opening, self._opening = self._opening, None
        self._generation += 1  # what the old stream still delivers is refused
        if opening is None:
            return True
        # close() stops and closes in one call (one call left behind, at most); the thread
        # left in it keeps the stream's callbacks alive for PortAudio.
        done, _ = _portaudio(seconds, opening.stream.close)
        if not done:
            log.warning(
                "the audio server did not let %s close within %g s: leaving it",
                opening.description,
                seconds,
            )
        return done

    def close(self) -> None:
        self._close_opening(CLOSE_SECONDS)
