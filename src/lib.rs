//! compact-asr: a small-footprint streaming speech-recognition server.
//!
//! Data flows one way: audio → features → model → decode → responses. Each stage is a
//! module; [`pipeline`] strings them together for one stream, and both the gRPC server and
//! the in-process `transcribe`/`eval` commands use that same pipeline; [`ws`] is a second
//! front door (vosk-server's WebSocket protocol) on the same engine.

pub mod proto {
    //! Generated gRPC/protobuf code for `compact_asr.v1`.
    tonic::include_proto!("compact_asr.v1");

    /// Serialized descriptor set, served by gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("compact_asr_descriptor");
}

pub mod audio;
pub mod client;
pub mod config;
pub mod decode;
pub mod error;
pub mod eval;
pub mod features;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod server;
pub mod transcribe;
pub mod ws;
