"""Dev set of REAL human English speech from Debian's pocketsphinx-testdata package.

Why: synthetic test voices say nothing about accuracy on people; these few transcribed
recordings (LibriVox read speech, spoken card names, "go forward ten meters") are the only
real speech with transcripts that the package registries ship (asterisk sounds are reserved
for outside evaluation and are never used here).
"""
import os
import re
import subprocess
from pathlib import Path

from .normalize import normalize

DATA = Path("/usr/share/pocketsphinx/test/data")


def _sphinx_transcripts(path: Path) -> dict[str, str]:
    """Parse '<s> words </s> (utt_id)' lines."""
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"\s*(?:<s>)?(.*?)(?:</s>)?\s*\((\S+)\)\s*$", line)
        if m:
            out[m.group(2)] = m.group(1)
    return out


def build_dev(audio_dir: Path, manifest_dir: Path) -> list[tuple]:
    """Convert the recordings to 16 kHz WAV; returns manifest rows (empty if not installed)."""
    sources = []  # (id, source path, sox input options, text)
    for sub in ["librivox", "cards"]:
        trans = DATA / sub / ("transcription" if sub == "librivox" else "cards.transcription")
        if trans.exists():
            for utt, text in sorted(_sphinx_transcripts(trans).items()):
                sources.append((f"{sub}-{utt}", DATA / sub / f"{utt}.wav", [], text))
    if (DATA / "goforward.raw").exists():
        raw_opts = ["-t", "raw", "-r", "16000", "-e", "signed", "-b", "16", "-c", "1"]
        sources.append(("goforward", DATA / "goforward.raw", raw_opts, "go forward ten meters"))
    rows = []
    for utt, src, opts, text in sources:
        text = normalize(text, min_words=1, max_words=60)
        if not src.exists() or not text:
            continue
        dst = audio_dir / "dev" / f"{utt}.wav"
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["sox", "-V1", "-q", *opts, str(src), "-r", "16000", "-c", "1",
                        "-b", "16", "-e", "signed", str(dst)], check=True)
        dur = float(subprocess.run(["soxi", "-D", str(dst)], capture_output=True,
                                   text=True, check=True).stdout)
        rows.append((f"dev-{utt}", os.path.relpath(dst, manifest_dir), dur, text))
    return rows
