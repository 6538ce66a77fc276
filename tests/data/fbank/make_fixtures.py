"""Reference log-mel fbank frames for the Rust front end's tests.

Why: the server must compute exactly the features the model was trained on, and the
recipe computes them with kaldi-native-fbank. This script writes a few short 16 kHz
signals as 16-bit WAV files together with kaldi-native-fbank's frames for them, so
`cargo test` can compare the Rust fbank against the reference without Python.

Signals (16-bit so the WAV holds exactly the samples the reference saw):
  chirp_noise   a 100 Hz -> 7.5 kHz chirp plus white noise (-20 dB: the reference
                computes in float32, and bands ~60 dB below a frame's loudest carry
                ~1e-3 of its rounding noise, which no f64 implementation reproduces)
  speech        an espeak-ng utterance resampled to 16 kHz
  dc_silence    near-silence (low noise) riding on a large DC offset
  narrowband    8 kHz-style audio (tones + noise band-limited to 4 kHz) upsampled,
                with a -60 dB noise floor above 4 kHz

Outputs, beside this script: NAME.wav, NAME.fbank.f32 (raw little-endian float32,
row-major [frames, num_mel_bins]) and fixtures.toml listing shapes.

Run from the repository root:
  models/recipe/.venv/bin/python tests/data/fbank/make_fixtures.py
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import kaldi_native_fbank as knf
import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

OUT = Path(__file__).resolve().parent
# The recipe's own settings, so the fixtures pin the Rust front end to the training features.
sys.path.insert(0, str(OUT.parents[2] / "models" / "recipe"))
from features import fbank_options  # noqa: E402
SAMPLE_RATE = 16000
NUM_MEL_BINS = 80
INPUT_SCALE = 32768.0
SPEECH_TEXT = "the quick brown fox jumps over the lazy dog"


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def chirp_noise(rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(1.0 * SAMPLE_RATE)) / SAMPLE_RATE
    f0, f1, dur = 100.0, 7500.0, t[-1]
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * dur))
    return 0.3 * np.sin(phase) + 0.03 * rng.standard_normal(t.size)


def speech() -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), SPEECH_TEXT], check=True)
        audio, sr = sf.read(str(wav), dtype="float64", always_2d=True)
    audio = audio.mean(axis=1)
    g = np.gcd(sr, SAMPLE_RATE)
    return resample_poly(audio, SAMPLE_RATE // g, sr // g)


def dc_silence(rng: np.random.Generator) -> np.ndarray:
    n = int(0.5 * SAMPLE_RATE)
    return 0.25 + 0.002 * rng.standard_normal(n)


def narrowband(rng: np.random.Generator) -> np.ndarray:
    n8 = int(0.6 * 8000)
    t = np.arange(n8) / 8000
    x8 = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 2500 * t)
    x8 += 0.05 * rng.standard_normal(n8)
    x16 = resample_poly(x8, 2, 1)
    return x16 + 0.001 * rng.standard_normal(x16.size)


def reference_fbank(samples: np.ndarray) -> np.ndarray:
    fb = knf.OnlineFbank(fbank_options())
    fb.accept_waveform(SAMPLE_RATE, (samples * INPUT_SCALE).tolist())
    fb.input_finished()
    out = np.empty((fb.num_frames_ready, NUM_MEL_BINS), dtype=np.float32)
    for i in range(fb.num_frames_ready):
        out[i] = fb.get_frame(i)
    return out


def main() -> None:
    rng = np.random.default_rng(20261129)
    signals = {
        "chirp_noise": chirp_noise(rng),
        "speech": speech(),
        "dc_silence": dc_silence(rng),
        "narrowband": narrowband(rng),
    }
    lines = [
        f"# Written by make_fixtures.py from kaldi-native-fbank {version('kaldi-native-fbank')}.",
        f"sample_rate = {SAMPLE_RATE}",
        f"num_mel_bins = {NUM_MEL_BINS}",
        "",
    ]
    for name, x in signals.items():
        pcm = to_int16(x)
        sf.write(str(OUT / f"{name}.wav"), pcm, SAMPLE_RATE, subtype="PCM_16")
        # Exactly what a reader of the 16-bit WAV gets: int16 / 32768 in float32.
        samples = pcm.astype(np.float32) / np.float32(32768.0)
        frames = reference_fbank(samples)
        frames.astype("<f4").tofile(OUT / f"{name}.fbank.f32")
        lines += [
            "[[case]]",
            f'name = "{name}"',
            f'wav = "{name}.wav"',
            f'fbank = "{name}.fbank.f32"',
            f"samples = {pcm.size}",
            f"frames = {frames.shape[0]}",
            "",
        ]
        print(f"{name}: {pcm.size} samples, {frames.shape[0]} frames")
    (OUT / "fixtures.toml").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
