#!/usr/bin/env python3
"""Stream a WAV file to a compact-asr server with the official `grpcio` package.

Proof that any gRPC client works: nothing here is specific to our Rust code. The stubs are
generated from `proto/` at run time by `grpcio-tools` into a temporary directory, so they
can never drift from the API the server serves.

    python3 -m venv .venv && .venv/bin/pip install -r examples/python/requirements.txt
    .venv/bin/python examples/python/stream_wav.py --server 127.0.0.1:50051 FILE.wav

Reads a 16-bit PCM WAV (any rate 8-48 kHz, any channel count up to 8: the server resamples
and downmixes), streams it as LINEAR16 chunks with interim results on, and prints one line
per result: `partial: TEXT` while audio streams, `final: TEXT` after the half-close.
"""
import argparse
import importlib
import sys
import tempfile
import time
import wave
from pathlib import Path

import grpc
import grpc_tools
from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parents[2] / "proto"
PROTO_FILE = "compact_asr/v1/recognizer.proto"


def load_stubs(out_dir: str):
    """Generate recognizer_pb2 / recognizer_pb2_grpc from proto/ and import them."""
    well_known = Path(grpc_tools.__file__).parent / "_proto"  # google/protobuf/*.proto
    status = protoc.main([
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        PROTO_FILE,
    ])
    if status != 0:
        sys.exit(f"protoc failed to compile {PROTO_ROOT / PROTO_FILE}")
    sys.path.insert(0, out_dir)
    pb2 = importlib.import_module("compact_asr.v1.recognizer_pb2")
    pb2_grpc = importlib.import_module("compact_asr.v1.recognizer_pb2_grpc")
    return pb2, pb2_grpc


def read_wav(path: Path):
    """(pcm bytes, sample rate, channels) of a 16-bit PCM WAV."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            sys.exit(f"{path}: only 16-bit PCM WAV is supported by this example")
        return wav.readframes(wav.getnframes()), wav.getframerate(), wav.getnchannels()


def requests(pb2, pcm: bytes, rate: int, channels: int, chunk_ms: int, realtime: bool):
    """The config first, then the audio in chunks of `chunk_ms`."""
    config = pb2.RecognitionConfig(
        encoding=pb2.RecognitionConfig.LINEAR16,
        sample_rate_hertz=rate,
        audio_channel_count=channels,
    )
    yield pb2.StreamingRecognizeRequest(
        streaming_config=pb2.StreamingRecognitionConfig(config=config, interim_results=True)
    )
    chunk_bytes = max(1, rate * chunk_ms // 1000) * 2 * channels
    for start in range(0, len(pcm), chunk_bytes):
        yield pb2.StreamingRecognizeRequest(audio_content=pcm[start:start + chunk_bytes])
        if realtime:
            time.sleep(chunk_ms / 1000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wav", type=Path)
    parser.add_argument("--server", default="127.0.0.1:50051", help="HOST:PORT")
    parser.add_argument("--chunk-ms", type=int, default=100)
    parser.add_argument("--realtime", action="store_true", help="pace chunks at real time")
    args = parser.parse_args()

    pcm, rate, channels = read_wav(args.wav)
    with tempfile.TemporaryDirectory() as stubs_dir:
        pb2, pb2_grpc = load_stubs(stubs_dir)
        with grpc.insecure_channel(args.server) as channel:
            stub = pb2_grpc.RecognizerStub(channel)
            try:
                for response in stub.StreamingRecognize(
                    requests(pb2, pcm, rate, channels, args.chunk_ms, args.realtime)
                ):
                    for result in response.results:
                        text = result.alternatives[0].transcript if result.alternatives else ""
                        print(f"{'final' if result.is_final else 'partial'}: {text}", flush=True)
            except grpc.RpcError as err:
                print(f"error: {err.code().name}: {err.details()}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
