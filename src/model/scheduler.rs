//! Dynamic batching: the next chunk of many concurrent streams in ONE model call.
//!
//! Why: at batch 1 every LSTM step is a matrix-vector product that reads all the weights
//! from memory for a handful of multiply-adds per weight; stacking B streams' chunks makes it
//! a matrix-matrix product that reads them once for all B. Streams keep their own recurrent
//! state ([`RecurrentState`]); a worker thread collects pending chunks, gathers them into
//! one `[B, T, D]` batch (states into their batch axis), runs the model once and scatters
//! the log-probs and new states back ([`AcousticModel::run_batch`]).
//!
//! How a batch is formed:
//! - Only chunks of equal length share a call: zero-padding a shorter chunk would run the
//!   LSTM over the padding and corrupt its state. The oldest pending chunk sets the length;
//!   chunks of other lengths (a stream's shorter last chunk, a burst of several chunks, a
//!   whole unary request) stay queued, in order, for a later call.
//! - The worker waits at most `max_wait` after the oldest chunk *arrived* for more to
//!   come, and not at all once every open stream is in the batch: a stream alone never
//!   waits, and under load chunks pile up while the workers are busy, so batches fill
//!   without any waiting.
//! - At most `max_batch` chunks per call.
//!
//! Workers are OS threads (off the async runtime, one per core by default); only one of
//! them gathers at a time, so two idle workers never split a batch between them. A live
//! stream's task awaits its chunk ([`BatchedSession::run_async`]: no thread parked per
//! chunk); a whole recording on a blocking thread waits for it ([`BatchedSession::run`]).

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::error::AsrError;
use crate::model::runtime::{whole_frames, AcousticModel, RecurrentState};

/// How chunks are batched.
#[derive(Debug, Clone)]
pub struct BatchConfig {
    /// Most chunks run in one model call (1 runs every chunk on its own).
    pub max_batch: usize,
    /// Longest a chunk waits for others to join its batch.
    pub max_wait: Duration,
    /// Threads running batches; each model call runs on one of them.
    pub workers: usize,
}

impl Default for BatchConfig {
    /// Batches of up to 64 chunks, 5 ms wait, one worker per core.
    fn default() -> Self {
        BatchConfig {
            max_batch: 64,
            max_wait: Duration::from_millis(5),
            workers: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// The shared batch queue and its worker threads.
#[derive(Debug)]
pub struct BatchScheduler {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    model: Arc<AcousticModel>,
    config: BatchConfig,
    queue: Mutex<Queue>,
    /// Signalled when a chunk is queued, a stream closes or the scheduler stops.
    changed: Condvar,
    /// Held by the one worker gathering a batch.
    gathering: Mutex<()>,
    /// Streams that may still send chunks: a batch holding all of them need not wait.
    open_streams: AtomicUsize,
    /// Model calls made and chunks they ran, for [`BatchScheduler::stats`].
    calls: AtomicU64,
    chunks: AtomicU64,
}

/// What the scheduler has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchStats {
    /// Model calls.
    pub calls: u64,
    /// Chunks run by those calls (chunks / calls = mean batch size).
    pub chunks: u64,
}

#[derive(Debug, Default)]
struct Queue {
    pending: VecDeque<Job>,
    stopped: bool,
}

/// One stream's chunk waiting to run; the state travels with it and comes back in the reply.
#[derive(Debug)]
struct Job {
    frames: Vec<f32>,
    time: usize,
    state: RecurrentState,
    arrived: Instant,
    reply: Reply,
}

/// Where a chunk's result goes: a blocked caller's channel, or an awaiting task's oneshot
/// (no thread parked per chunk: the worker's send wakes the stream's task directly).
#[derive(Debug)]
enum Reply {
    Blocking(mpsc::SyncSender<Done>),
    Async(oneshot::Sender<Done>),
}

impl Reply {
    /// Hands the result over; a caller that went away needs no answer.
    fn send(self, done: Done) {
        let _ = match self {
            Reply::Blocking(tx) => tx.send(done).map_err(drop),
            Reply::Async(tx) => tx.send(done).map_err(drop),
        };
    }
}

/// The stream's state after the chunk, and the chunk's log-probs.
type Done = (RecurrentState, Result<Vec<f32>, AsrError>);

impl BatchScheduler {
    /// Starts `config.workers` threads running `model` in batches.
    pub fn start(
        model: Arc<AcousticModel>,
        config: BatchConfig,
    ) -> Result<BatchScheduler, AsrError> {
        if config.max_batch == 0 || config.workers == 0 {
            return Err(AsrError::InvalidConfig(format!(
                "batching needs at least 1 chunk per batch and 1 worker (got {} and {})",
                config.max_batch, config.workers
            )));
        }
        let shared = Arc::new(Shared {
            model,
            config,
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
            gathering: Mutex::new(()),
            open_streams: AtomicUsize::new(0),
            calls: AtomicU64::new(0),
            chunks: AtomicU64::new(0),
        });
        let mut scheduler = BatchScheduler {
            shared: Arc::clone(&shared),
            workers: Vec::new(),
        };
        for ix in 0..shared.config.workers {
            let worker = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name(format!("asr-batch-{ix}"))
                .spawn(move || worker.work())
                .map_err(|e| AsrError::Internal(format!("cannot start a batch worker: {e}")))?;
            // On error, dropping `scheduler` stops the workers already started.
            scheduler.workers.push(handle);
        }
        Ok(scheduler)
    }

    /// The model the workers run.
    pub fn model(&self) -> &AcousticModel {
        &self.shared.model
    }

    /// Model calls and chunks run so far.
    pub fn stats(&self) -> BatchStats {
        BatchStats {
            calls: self.shared.calls.load(Ordering::Relaxed),
            chunks: self.shared.chunks.load(Ordering::Relaxed),
        }
    }

    /// A new stream's handle: zero state, chunks run through this scheduler.
    pub fn session(self: &Arc<Self>) -> BatchedSession {
        self.shared.open_streams.fetch_add(1, Ordering::SeqCst);
        BatchedSession {
            state: self.shared.model.zero_state(),
            scheduler: Arc::clone(self),
        }
    }

    /// Queues one chunk; `reply` gets its result once a worker has run it.
    fn submit(&self, frames: Vec<f32>, time: usize, state: RecurrentState, reply: Reply) {
        {
            let mut queue = self.shared.lock_queue();
            queue.pending.push_back(Job {
                frames,
                time,
                state,
                arrived: Instant::now(),
                reply,
            });
        }
        self.shared.changed.notify_all();
    }

    /// What a caller gets when the workers stopped before running its chunk.
    fn stopped(&self) -> Done {
        (
            self.shared.model.zero_state(),
            Err(AsrError::Internal("the batch worker stopped".into())),
        )
    }
}

impl Drop for BatchScheduler {
    fn drop(&mut self) {
        self.shared.lock_queue().stopped = true;
        self.shared.changed.notify_all();
        for worker in self.workers.drain(..) {
            // A worker never panics (model panics are caught), so there is nothing to report.
            let _ = worker.join();
        }
    }
}

impl Shared {
    fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn work(&self) {
        while let Some(batch) = self.gather() {
            self.run(batch);
        }
    }

    /// Waits for a chunk, then for more of the same length (see the module doc); `None`
    /// once the scheduler stops.
    fn gather(&self) -> Option<Vec<Job>> {
        let _gathering = self
            .gathering
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut queue = self.lock_queue();
        let first = loop {
            if queue.stopped {
                return None;
            }
            if let Some(job) = queue.pending.pop_front() {
                break job;
            }
            queue = self
                .changed
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        };
        let (time, deadline) = (first.time, first.arrived + self.config.max_wait);
        let mut batch = vec![first];
        loop {
            take_same_length(&mut queue.pending, time, self.config.max_batch, &mut batch);
            let everyone_in = batch.len() >= self.open_streams.load(Ordering::SeqCst);
            let now = Instant::now();
            if batch.len() >= self.config.max_batch || everyone_in || now >= deadline {
                return Some(batch);
            }
            queue = self
                .changed
                .wait_timeout(queue, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Runs one batch and hands every stream its outputs and state back.
    fn run(&self, mut batch: Vec<Job>) {
        let time = batch[0].time;
        let started = Instant::now();
        let result = {
            let mut jobs: Vec<(&[f32], &mut RecurrentState)> = batch
                .iter_mut()
                .map(|job| (job.frames.as_slice(), &mut job.state))
                .collect();
            catch_unwind(AssertUnwindSafe(|| self.model.run_batch(time, &mut jobs)))
                .unwrap_or_else(|_| Err(AsrError::Model("the model run panicked".into())))
        };
        let seconds = started.elapsed().as_secs_f64();
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.chunks.fetch_add(batch.len() as u64, Ordering::Relaxed);
        crate::metrics::inference(seconds, batch.len());
        tracing::trace!(batch = batch.len(), time, seconds, "batch run");
        match result {
            Ok(outputs) => {
                for (job, log_probs) in batch.into_iter().zip(outputs) {
                    job.reply.send((job.state, Ok(log_probs)));
                }
            }
            Err(err) => {
                let message = err.to_string();
                for job in batch {
                    job.reply
                        .send((job.state, Err(AsrError::Model(message.clone()))));
                }
            }
        }
    }
}

/// Moves queued jobs of length `time` into `batch` (oldest first) until it holds `max`.
fn take_same_length(pending: &mut VecDeque<Job>, time: usize, max: usize, batch: &mut Vec<Job>) {
    let mut ix = 0;
    while ix < pending.len() && batch.len() < max {
        if pending[ix].time == time {
            batch.extend(pending.remove(ix));
        } else {
            ix += 1;
        }
    }
}

/// One stream's handle on a [`BatchScheduler`]: its recurrent state, carried from chunk to
/// chunk; its chunks run batched with other streams'.
#[derive(Debug)]
pub struct BatchedSession {
    scheduler: Arc<BatchScheduler>,
    state: RecurrentState,
}

impl BatchedSession {
    /// The model this session runs.
    pub fn model(&self) -> &AcousticModel {
        self.scheduler.model()
    }

    /// Runs `frames` (row-major `[time, input_dim]`) in the next batch and returns
    /// `[time, vocab]` log-probs, carrying the recurrent state into the next call. Blocks
    /// until the chunk has run: for blocking threads (whole recordings, tests).
    pub fn run(&mut self, frames: &[f32]) -> Result<Vec<f32>, AsrError> {
        let Some(time) = self.chunk_time(frames)? else {
            return Ok(Vec::new());
        };
        let (reply, done) = mpsc::sync_channel(1);
        let state = std::mem::take(&mut self.state);
        let scheduler = &self.scheduler;
        scheduler.submit(frames.to_vec(), time, state, Reply::Blocking(reply));
        let (state, result) = done.recv().unwrap_or_else(|_| scheduler.stopped());
        self.state = state;
        result
    }

    /// [`run`](Self::run) for async callers: awaits the batch without holding a thread.
    pub async fn run_async(&mut self, frames: &[f32]) -> Result<Vec<f32>, AsrError> {
        let Some(time) = self.chunk_time(frames)? else {
            return Ok(Vec::new());
        };
        let (reply, done) = oneshot::channel();
        let state = std::mem::take(&mut self.state);
        self.scheduler
            .submit(frames.to_vec(), time, state, Reply::Async(reply));
        let (state, result) = done.await.unwrap_or_else(|_| self.scheduler.stopped());
        self.state = state;
        result
    }

    /// The chunk's frame count, `None` for an empty chunk.
    fn chunk_time(&self, frames: &[f32]) -> Result<Option<usize>, AsrError> {
        let time = whole_frames(frames, self.model().input_dim())?;
        Ok((time > 0).then_some(time))
    }
}

impl Drop for BatchedSession {
    fn drop(&mut self) {
        self.scheduler
            .shared
            .open_streams
            .fetch_sub(1, Ordering::SeqCst);
        // A worker waiting for this stream's chunk can stop waiting.
        self.scheduler.shared.changed.notify_all();
    }
}
