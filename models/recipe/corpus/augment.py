"""Training-set augmentation: speed, reverb, telephone band, additive noise, gain.

Why: clean TTS audio is far easier than real microphones; one randomly mixed degraded copy
per clean training utterance teaches the model channel and noise robustness.
"""
import random
import subprocess
import tempfile

import numpy as np
import soundfile as sf

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


def augment(src: str, dst: str, seed: int, others: list[str]) -> tuple[float, str]:
    """Write a degraded copy of src to dst; returns (duration, description of the ops)."""
    rng = random.Random(seed)
    effects, desc = [], []
    if rng.random() < 0.6:
        factor = rng.uniform(0.9, 1.1)
        effects += ["speed", f"{factor:.3f}"]
        desc.append(f"speed{factor:.2f}")
    if rng.random() < 0.35:
        rev = rng.randint(20, 80)
        effects += ["reverb", str(rev), "50", str(rng.randint(30, 100))]
        desc.append(f"reverb{rev}")
    effects += ["rate", str(RATE), "channels", "1"]
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(["sox", "-V1", "-q", src, "-b", "16", tmp.name] + effects, check=True)
        if rng.random() < 0.25:
            desc.append("telephone")
            with tempfile.NamedTemporaryFile(suffix=".wav") as ulaw:
                subprocess.run(["sox", "-V1", "-q", tmp.name, "-r", "8000", "-e", "u-law", ulaw.name,
                                "sinc", "300-3400"], check=True)
                subprocess.run(["sox", "-V1", "-q", ulaw.name, "-r", str(RATE), "-e", "signed",
                                "-b", "16", tmp.name], check=True)
        x, _ = sf.read(tmp.name, dtype="float64")
    if rng.random() < 0.7:
        kind = rng.choice(["white", "pink", "brown", "babble", "babble"])
        snr = rng.uniform(0, 20)
        nrng = np.random.default_rng(seed)
        noise = _babble(others, len(x), rng) if kind == "babble" else \
            _colored_noise(kind, len(x), nrng)
        x = _add_noise(x, noise, snr)
        desc.append(f"{kind}{snr:.0f}dB")
    gain_db = rng.uniform(-15, 3)
    peak = np.max(np.abs(x)) + 1e-9
    x = x / peak * min(0.99, 0.9 * 10 ** (gain_db / 20))
    desc.append(f"gain{gain_db:.0f}dB")
    sf.write(dst, x, RATE, subtype="PCM_16")
    return len(x) / RATE, "+".join(desc)
