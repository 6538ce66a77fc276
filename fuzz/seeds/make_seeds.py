"""Writes the committed seed inputs under fuzz/seeds/TARGET (stdlib only; rerun to refresh).

Seeds only give the fuzzer a head start: real WAV files for `wav`, and for the structured
targets a few bytes of options followed by tone samples, which libFuzzer's mutations then
reshape. Every file stays well under 10 KB.
"""

import math
import os
import struct
import wave

HERE = os.path.dirname(os.path.abspath(__file__))


def tone(n, rate, freq=440.0, amp=0.5):
    return [amp * math.sin(2 * math.pi * freq * i / rate) for i in range(n)]


def pcm16(xs):
    return b"".join(struct.pack("<h", max(-32768, min(32767, int(x * 32767)))) for x in xs)


def mulaw(x):
    """G.711 mu-law encoding of a sample in [-1, 1]."""
    v = max(-32635, min(32635, int(x * 32767)))
    sign = 0x80 if v < 0 else 0
    v = abs(v) + 0x84
    exponent = max(0, v.bit_length() - 8)
    mantissa = (v >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def wav(channels, rate, width, frames):
    import io

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()


def write(target, name, data):
    os.makedirs(os.path.join(HERE, target), exist_ok=True)
    assert len(data) < 10_000, (target, name, len(data))
    with open(os.path.join(HERE, target, name), "wb") as f:
        f.write(data)


def main():
    mono16 = wav(1, 16000, 2, pcm16(tone(300, 16000)))
    write("wav", "mono16k_16bit.wav", mono16)
    write("wav", "truncated.wav", mono16[: len(mono16) // 2 + 1])
    stereo = [s for x in tone(200, 8000) for s in (x, -x / 2)]
    write("wav", "stereo8k_16bit.wav", wav(2, 8000, 2, pcm16(stereo)))
    write("wav", "mono22k_8bit.wav", wav(1, 22050, 1, bytes(int(128 + 100 * x) for x in tone(250, 22050))))
    # A mu-law WAV (format tag 7): the server only takes PCM/float WAV, so this is an error case.
    ulaw = bytes(mulaw(x) for x in tone(400, 8000))
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(ulaw), b"WAVE", b"fmt ", 16, 7, 1, 8000, 8000, 1, 8, b"data", len(ulaw))
    write("wav", "mulaw8k.wav", header + ulaw)

    # Structured targets: a few leading option bytes, then samples (the trailing field takes the rest).
    write("pcm", "linear16_mono", b"\x00\x00\x00\x00\x00" + pcm16(tone(300, 16000)))
    write("pcm", "mulaw_stereo", b"\xff\xff\xff\xff\x01" + bytes(mulaw(x) for x in tone(400, 8000)))
    write("pcm", "float32", b"\x80\x00\x00\x00\x00" + b"".join(struct.pack("<f", x) for x in tone(200, 16000)))
    write("resample", "8k_tone", b"\x00\x00\x00\x00\x00" * 2 + b"\x03" + pcm16(tone(800, 8000)))
    write("resample", "44k_tone", b"\x00\x00\x00\x00\x06" * 2 + b"\x01" + pcm16(tone(1500, 44100)))
    write("stream", "linear16_16k", b"\x00" * 4 + b"\x00" * 4 + b"\x02\x00\x01" + pcm16(tone(1600, 16000, 300.0)))
    write("stream", "mulaw_8k", b"\xff" * 4 + b"\x00" * 4 + b"\x00\x00\x00" + bytes(mulaw(x) for x in tone(1600, 8000, 300.0)))
    # protocol: limits, then requests (tag 0 empty, 0x60000000 config, 0xC0000000 audio).
    config = struct.pack("<I?biib?", 0x60000000, False, 1, 16000, 1, 0, True)
    audio = lambda n: struct.pack("<IHB", 0xC0000000, n, 7)
    limits = struct.pack("<HI", 1024, 50)
    write("protocol", "config_then_audio", limits + config + audio(320) + audio(0) + audio(1000) + audio(1))
    write("protocol", "out_of_order", limits + audio(10) + struct.pack("<I", 0) + config + config + audio(2000))
    write("features", "contract_tone", b"\x00" * 8 + b"\x03\x03" + pcm16(tone(1200, 16000, 1000.0)))
    write("features", "custom_options", b"\xff\xff\xff\xff\x01\x50\x32\x14\x61\x01\x14\x00\x00\x00\x03\x02" + pcm16(tone(900, 8000)))


if __name__ == "__main__":
    main()
