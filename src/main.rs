//! `compact-asr`: the command line. Thin by design: it parses flags, sets up logging and
//! calls the library, so everything it does is also reachable (and tested) from Rust.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use compact_asr::audio::read_wav_file;
use compact_asr::client::{self, bench, StreamOptions};
use compact_asr::pipeline::{Engine, EngineConfig};
use compact_asr::server::{self, RunningServer};
use compact_asr::{eval, transcribe};

#[derive(Debug, Parser)]
#[command(name = "compact-asr", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the gRPC API (Recognizer, health, reflection).
    Serve(ServeArgs),
    /// Print `FILE<TAB>TRANSCRIPT` for each WAV file, over gRPC or in-process.
    Transcribe(TranscribeArgs),
    /// Print word and character error rates of the model on TSV manifests.
    Eval(EvalArgs),
    /// Stream one file (as fast as possible unless --realtime); print real-time factor and
    /// the latency from the last chunk sent to the final result.
    Bench(BenchArgs),
}

/// The engine defaults, so the CLI never restates them.
fn defaults() -> EngineConfig {
    EngineConfig::new(PathBuf::new())
}

/// The model and its session pool (for `transcribe`, only without `--server`).
#[derive(Debug, Args)]
struct ModelArgs {
    /// The model's model.toml.
    #[arg(
        long,
        env = "COMPACT_ASR_MODEL",
        default_value = "models/baseline/model.toml"
    )]
    model: PathBuf,
    /// Streams that can recognise at once (model sessions in the pool).
    #[arg(long, default_value_t = defaults().pool_size)]
    pool_size: usize,
    /// How long a new stream waits for a free session before RESOURCE_EXHAUSTED.
    #[arg(long, default_value_t = defaults().acquire_timeout.as_millis() as u64)]
    acquire_timeout_ms: u64,
    /// Least audio between two partial results of a stream.
    #[arg(long, default_value_t = defaults().interim_interval_ms)]
    interim_interval_ms: u32,
}

impl ModelArgs {
    fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            model_path: self.model.clone(),
            pool_size: self.pool_size,
            acquire_timeout: Duration::from_millis(self.acquire_timeout_ms),
            interim_interval_ms: self.interim_interval_ms,
            ..defaults()
        }
    }

    async fn load(&self, chunk_ms: Option<u32>) -> anyhow::Result<Engine> {
        let mut config = self.engine_config();
        if let Some(chunk_ms) = chunk_ms {
            config.chunk_ms = chunk_ms;
        }
        let engine = tokio::task::spawn_blocking(move || Engine::load(config)).await??;
        Ok(engine)
    }
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "COMPACT_ASR_LISTEN", default_value = "0.0.0.0:50051")]
    listen: String,
    /// Audio per model run: longer is cheaper per second, shorter answers sooner.
    #[arg(long, default_value_t = defaults().chunk_ms)]
    chunk_ms: u32,
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(Debug, Args)]
struct TranscribeArgs {
    /// Stream to this server (e.g. http://127.0.0.1:50051) instead of recognising in-process.
    #[arg(long)]
    server: Option<String>,
    /// Audio per streamed chunk.
    #[arg(long, default_value_t = 100)]
    chunk_ms: u32,
    /// Pace chunks at real time, like a live microphone.
    #[arg(long)]
    realtime: bool,
    #[command(flatten)]
    model: ModelArgs,
    /// WAV files: 8-48 kHz, mono or stereo, 16-bit or float.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Manifests: TSV with header `id path duration text`.
    #[arg(required = true)]
    manifests: Vec<PathBuf>,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Benchmark this server; without it, one is started in-process on a loopback port.
    #[arg(long)]
    server: Option<String>,
    /// Audio per streamed chunk.
    #[arg(long, default_value_t = 100)]
    chunk_ms: u32,
    /// Pace chunks at real time: measures the final latency a live caller sees.
    #[arg(long)]
    realtime: bool,
    #[command(flatten)]
    model: ModelArgs,
    /// A WAV file.
    file: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let result = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Transcribe(args) => transcribe_files(args).await,
        Command::Eval(args) => evaluate(args).await,
        Command::Bench(args) => run_bench(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let engine = args.model.load(Some(args.chunk_ms)).await?;
    let listener = server::bind(&args.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    server::serve(engine, listener, server::shutdown_signal()).await?;
    Ok(())
}

async fn transcribe_files(args: TranscribeArgs) -> anyhow::Result<()> {
    let options = StreamOptions {
        chunk_ms: args.chunk_ms,
        realtime: args.realtime,
        ..StreamOptions::default()
    };
    let mut failures = 0;
    match &args.server {
        Some(url) => {
            let mut client = client::connect(url).await?;
            for file in &args.files {
                let result = async {
                    let audio = read_wav_file(file)?;
                    let outcome = client::stream_audio(&mut client, &audio, &options).await?;
                    anyhow::Ok(outcome.transcript().to_owned())
                }
                .await;
                failures += usize::from(!report(file, result));
            }
        }
        None => {
            let engine = args.model.load(None).await?;
            for file in &args.files {
                let result = transcribe::transcribe_file(&engine, file, args.chunk_ms).await;
                failures += usize::from(!report(file, result.map_err(Into::into)));
            }
        }
    }
    if failures > 0 {
        anyhow::bail!("{failures} of {} files failed", args.files.len());
    }
    Ok(())
}

/// Prints `FILE<TAB>TRANSCRIPT`, or the error on stderr; returns whether it succeeded.
fn report(file: &Path, result: anyhow::Result<String>) -> bool {
    match result {
        Ok(text) => {
            println!("{}\t{text}", file.display());
            true
        }
        Err(err) => {
            eprintln!("{}: {err:#}", file.display());
            false
        }
    }
}

async fn evaluate(args: EvalArgs) -> anyhow::Result<()> {
    let engine = args.model.load(None).await?;
    for manifest in &args.manifests {
        let scores = eval::evaluate_manifest(&engine, manifest)
            .await
            .with_context(|| format!("evaluating {}", manifest.display()))?;
        println!("{}\t{scores}", manifest.display());
    }
    Ok(())
}

async fn run_bench(args: BenchArgs) -> anyhow::Result<()> {
    let audio = read_wav_file(&args.file)?;
    let report = match &args.server {
        Some(url) => bench::run(url, &audio, args.chunk_ms, args.realtime).await?,
        None => {
            let engine = args.model.load(None).await?;
            let server = RunningServer::start(engine, "127.0.0.1:0").await?;
            let report = bench::run(&server.url(), &audio, args.chunk_ms, args.realtime).await?;
            server.stop().await?;
            report
        }
    };
    println!("file:               {}", args.file.display());
    println!("{report}");
    Ok(())
}
