//! `compact-asr`: the command line. Thin by design: it parses flags, sets up logging and
//! calls the library, so everything it does is also reachable (and tested) from Rust.

/// The allocator the server runs with (Cargo.toml says why), so benchmarks measure it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use compact_asr::audio::read_wav_file;
use compact_asr::client::{self, bench, loadtest, StreamOptions};
use compact_asr::config::{EngineArgs, LogFormat, SettingsArgs};
use compact_asr::metrics::http::MetricsServer;
use compact_asr::pipeline::Engine;
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
    /// Serve the gRPC API (Recognizer, health, reflection) and Prometheus metrics.
    ///
    /// Settings come from flags, then COMPACT_ASR_* variables, then the --config file, then
    /// defaults; `compact-asr config --print-default` lists and documents them all.
    Serve(Box<ServeArgs>),
    /// Print every `serve` setting with its documentation and default, as a TOML file.
    Config(ConfigArgs),
    /// Print `FILE<TAB>TRANSCRIPT` for each WAV file, over gRPC or in-process.
    Transcribe(TranscribeArgs),
    /// Print word and character error rates of the model on TSV manifests.
    Eval(EvalArgs),
    /// Stream one file (as fast as possible unless --realtime); print real-time factor and
    /// the latency from the last chunk sent to the final result.
    Bench(BenchArgs),
    /// Exit 0 if the server's grpc.health.v1 service answers SERVING, else 1 saying why
    /// (the container HEALTHCHECK and a Kubernetes exec probe).
    Health(HealthArgs),
    /// Hold N concurrent real-time streams against a server; report chunk and final latency
    /// percentiles, errors by status code and WER (--find-max: the most streams held).
    Loadtest(LoadtestArgs),
}

/// Loads the engine the flags and `COMPACT_ASR_*` variables describe (`serve`'s keys).
async fn load_engine(args: &EngineArgs) -> anyhow::Result<Engine> {
    let config = args.resolve()?;
    let engine = tokio::task::spawn_blocking(move || Engine::load(config)).await??;
    Ok(engine)
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    settings: SettingsArgs,
}

#[derive(Debug, Args)]
struct ConfigArgs {
    /// Print the default configuration, every key documented (a valid config file).
    #[arg(long, required = true)]
    print_default: bool,
}

#[derive(Debug, Args)]
struct TranscribeArgs {
    #[command(flatten)]
    stream: StreamArgs,
    /// Bearer token for a server started with an auth token.
    #[arg(
        long,
        env = "COMPACT_ASR_TOKEN",
        hide_env_values = true,
        requires = "server"
    )]
    token: Option<String>,
    /// PEM CA certificate to trust for an https:// --server (besides the system roots).
    #[arg(long, value_name = "FILE", requires = "server")]
    ca: Option<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
    /// WAV files: 8-48 kHz, mono or stereo, 16-bit or float.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// How `transcribe` and `bench` feed a file to the recogniser.
#[derive(Debug, Args)]
struct StreamArgs {
    /// Stream to this server (e.g. http://127.0.0.1:50051); without it, the model runs
    /// in-process (`bench` starts a server of its own on a loopback port).
    #[arg(long)]
    server: Option<String>,
    /// Audio per streamed request (the model's own run length is --chunk-ms).
    #[arg(long, default_value_t = 100)]
    request_ms: u32,
    /// Pace requests at real time, like a live microphone (`bench`: measures the final
    /// latency a live caller sees).
    #[arg(long)]
    realtime: bool,
}

#[derive(Debug, Args)]
struct EvalArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// Manifests: TSV with header `id path duration text`.
    #[arg(required = true)]
    manifests: Vec<PathBuf>,
}

#[derive(Debug, Args)]
struct BenchArgs {
    #[command(flatten)]
    stream: StreamArgs,
    #[command(flatten)]
    engine: EngineArgs,
    /// A WAV file.
    file: PathBuf,
}

#[derive(Debug, Args)]
struct HealthArgs {
    /// The server to probe.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    server: String,
    /// The service to ask about; "" (the default) means the whole server.
    #[arg(long, default_value = "")]
    service: String,
    /// Give up (and fail) when connecting and answering take longer than this.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
}

#[derive(Debug, Args)]
struct LoadtestArgs {
    /// The server under test, e.g. http://127.0.0.1:50051.
    #[arg(long)]
    server: String,
    /// Concurrent streams (with --find-max: where the search starts).
    #[arg(long, default_value_t = 8)]
    streams: usize,
    /// Seconds during which recordings are started (each runs to its end).
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Folder of WAV files, each with an optional reference transcript in NAME.txt.
    #[arg(long)]
    audio: PathBuf,
    /// Audio per request; requests are sent one request's duration apart.
    #[arg(long, default_value_t = 100)]
    request_ms: u32,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Search the most streams held with chunk-latency p95 under --p95-bound-ms, no errors.
    #[arg(long)]
    find_max: bool,
    /// The p95 chunk-latency bound for --find-max.
    #[arg(long, default_value_t = 300.0, requires = "find_max")]
    p95_bound_ms: f64,
    /// Most streams --find-max tries.
    #[arg(long, default_value_t = 1024, requires = "find_max")]
    max_streams: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // `serve` sets up logging from its settings (format, filter); the others log warnings.
    if !matches!(cli.command, Command::Serve(_)) {
        tracing_subscriber::fmt()
            .with_env_filter(
                EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
            )
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .init();
    }
    let result = match cli.command {
        Command::Serve(args) => serve(*args).await,
        Command::Config(args) => print_config(&args),
        Command::Transcribe(args) => transcribe_files(args).await,
        Command::Eval(args) => evaluate(args).await,
        Command::Bench(args) => run_bench(args).await,
        Command::Health(args) => probe_health(args).await,
        Command::Loadtest(args) => run_loadtest(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", error_chain(&err));
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = args.settings.resolve()?;
    init_serve_logging(settings.log_format, &settings.log_filter)?;
    let options = settings.server_options()?;
    let metrics = match settings.metrics_addr() {
        Some(addr) => Some(MetricsServer::start(addr).await?),
        None => None,
    };
    let config = settings.engine_config();
    let engine = tokio::task::spawn_blocking(move || Engine::load(config)).await??;
    let listener = server::bind(&settings.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    server::serve(engine, listener, &options, server::shutdown_signal()).await?;
    if let Some(metrics) = metrics {
        metrics.stop().await?;
    }
    Ok(())
}

fn init_serve_logging(format: LogFormat, filter: &str) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_new(filter).with_context(|| format!("invalid log_filter {filter:?}"))?;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().init(),
    }
    Ok(())
}

fn print_config(args: &ConfigArgs) -> anyhow::Result<()> {
    if args.print_default {
        print!("{}", compact_asr::config::default_toml()?);
    }
    Ok(())
}

async fn transcribe_files(args: TranscribeArgs) -> anyhow::Result<()> {
    let options = StreamOptions {
        chunk_ms: args.stream.request_ms,
        realtime: args.stream.realtime,
        bearer_token: args.token.clone(),
        ..StreamOptions::default()
    };
    let mut failures = 0;
    match &args.stream.server {
        Some(url) => {
            let mut client = client::connect_with_ca(url, args.ca.as_deref()).await?;
            for file in &args.files {
                let result = async {
                    let audio = read_wav_file(file)?;
                    let outcome = client::stream_audio(&mut client, &audio, &options).await?;
                    anyhow::Ok(outcome.transcript())
                }
                .await;
                failures += usize::from(!report(file, result));
            }
        }
        None => {
            let engine = load_engine(&args.engine).await?;
            for file in &args.files {
                let result =
                    transcribe::transcribe_file(&engine, file, args.stream.request_ms).await;
                failures += usize::from(!report(file, result.map_err(Into::into)));
            }
        }
    }
    if failures > 0 {
        anyhow::bail!("{failures} of {} files failed", args.files.len());
    }
    Ok(())
}

/// An error and its causes, each cause once: our error messages already include their
/// source's text, so a cause whose text is already there is not repeated.
fn error_chain(err: &anyhow::Error) -> String {
    let mut out = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out = format!("{out}: {text}");
        }
    }
    out
}

/// Prints `FILE<TAB>TRANSCRIPT`, or the error on stderr; returns whether it succeeded.
fn report(file: &Path, result: anyhow::Result<String>) -> bool {
    match result {
        Ok(text) => {
            println!("{}\t{text}", file.display());
            true
        }
        Err(err) => {
            eprintln!("{}: {}", file.display(), error_chain(&err));
            false
        }
    }
}

async fn evaluate(args: EvalArgs) -> anyhow::Result<()> {
    let engine = load_engine(&args.engine).await?;
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
    let StreamArgs {
        server,
        request_ms,
        realtime,
    } = &args.stream;
    let report = match server {
        Some(url) => bench::run(url, &audio, *request_ms, *realtime).await?,
        None => {
            let engine = load_engine(&args.engine).await?;
            let server = RunningServer::start(engine, "127.0.0.1:0").await?;
            let report = bench::run(&server.url(), &audio, *request_ms, *realtime).await?;
            server.stop().await?;
            report
        }
    };
    println!("file:               {}", args.file.display());
    println!("{report}");
    Ok(())
}

async fn probe_health(args: HealthArgs) -> anyhow::Result<()> {
    let timeout = Duration::from_millis(args.timeout_ms);
    client::health::check(&args.server, &args.service, timeout).await?;
    println!("SERVING");
    Ok(())
}

async fn run_loadtest(args: LoadtestArgs) -> anyhow::Result<()> {
    let corpus = std::sync::Arc::new(loadtest::load_corpus(&args.audio)?);
    let config = loadtest::LoadTestConfig {
        server: args.server,
        streams: args.streams,
        duration: Duration::from_secs(args.duration),
        chunk_ms: args.request_ms,
        progress: true,
    };
    if args.find_max {
        let report = loadtest::find_max(&config, corpus, args.p95_bound_ms, args.max_streams).await;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!(
                "most streams held at chunk p95 <= {} ms with no errors: {}",
                report.p95_bound_ms, report.max_streams
            );
        }
        return Ok(());
    }
    let summary = loadtest::run(&config, corpus).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{summary}");
    }
    Ok(())
}
