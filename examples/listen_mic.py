#!/usr/bin/env python3
"""Listen to the microphone and print each keyword as it is heard (Ctrl-C to stop).

    python examples/listen_mic.py [MODEL.tflite] [--device NAME_OR_INDEX]

Needs the `mic` extra (`pip install 'gru-edge[mic]'`) and the system's PortAudio
(`sudo apt install libportaudio2`). Without MODEL, the model shipped with gru_edge is used.
"""

import argparse
import os
from datetime import datetime

from gru_edge.runtime.microphone import MicrophoneSource, portaudio_left_running
from gru_edge.runtime.spotter import KeywordSpotter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?")
    parser.add_argument("--device", help="input device index or (part of its) name")
    args = parser.parse_args()

    spotter = KeywordSpotter(args.model)
    # A microphone that goes away (unplugged, its audio server restarted) or falls silent for
    # 3 s is re-opened until it is back; after a minute without it, MicrophoneError.
    microphone = MicrophoneSource(args.device, reconnect_seconds=60)
    print(f"listening to {microphone.description} (Ctrl-C to stop)")

    def on_detection(detection):
        now = datetime.now().strftime("%H:%M:%S")
        print(f"{now}  heard {detection.keyword!r} (score {detection.score:.2f})")

    spotter.run(microphone, on_detection)  # returns on Ctrl-C, with the microphone closed
    print(
        f"stopped; {microphone.overflows} input overflow(s), {microphone.dropped} dropped, "
        f"{microphone.reconnects} reconnect(s)",
        flush=True,
    )
    if portaudio_left_running():  # a frozen audio stack holds a call: leave without cleanup
        os._exit(0)


if __name__ == "__main__":
    main()
