//! A bounded pool of model sessions: how many streams may recognise at once.
//!
//! Each stream holds one session for its whole life, so the pool size caps memory and CPU
//! per replica. A caller waits at most the acquire timeout for a free session and then gets
//! [`AsrError::PoolExhausted`], which the server turns into a retryable status instead of
//! queueing without bound. Sessions come back on drop, state reset, so a stream that is
//! aborted anywhere (client gone, error, panic unwinding) never leaks one.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::AsrError;
use crate::model::runtime::{AcousticModel, ModelSession};

/// At most `capacity` sessions checked out at once; idle ones are kept for reuse.
#[derive(Debug)]
pub struct SessionPool {
    model: Arc<AcousticModel>,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<ModelSession>>,
    capacity: usize,
}

impl SessionPool {
    /// A pool of `capacity` sessions of `model`, created when first needed.
    pub fn new(model: Arc<AcousticModel>, capacity: usize) -> Result<SessionPool, AsrError> {
        if capacity == 0 {
            return Err(AsrError::InvalidConfig(
                "the session pool needs at least 1 session".into(),
            ));
        }
        Ok(SessionPool {
            model,
            permits: Arc::new(Semaphore::new(capacity)),
            idle: Mutex::new(Vec::with_capacity(capacity)),
            capacity,
        })
    }

    /// Checks out a session, waiting at most `timeout` for one to come free.
    pub async fn acquire(self: &Arc<Self>, timeout: Duration) -> Result<PooledSession, AsrError> {
        let permit = tokio::time::timeout(timeout, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| AsrError::PoolExhausted { waited: timeout })?
            .map_err(|_| AsrError::Internal("session pool closed".into()))?;
        let reused = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let session = reused.unwrap_or_else(|| self.model.session());
        Ok(PooledSession {
            session: Some(session),
            pool: Arc::clone(self),
            _permit: permit,
        })
    }

    /// Most sessions that can be checked out at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sessions checked out now.
    pub fn in_use(&self) -> usize {
        self.capacity - self.permits.available_permits()
    }
}

/// A checked-out session; dropping it resets the session and returns it to the pool.
#[derive(Debug)]
pub struct PooledSession {
    session: Option<ModelSession>,
    pool: Arc<SessionPool>,
    // Released after `drop` has put the session back, so a waiter always finds it idle.
    _permit: OwnedSemaphorePermit,
}

impl Deref for PooledSession {
    type Target = ModelSession;

    fn deref(&self) -> &ModelSession {
        // Only `drop` takes the session out, so it is always present here.
        self.session
            .as_ref()
            .unwrap_or_else(|| unreachable!("session taken before drop"))
    }
}

impl DerefMut for PooledSession {
    fn deref_mut(&mut self) -> &mut ModelSession {
        self.session
            .as_mut()
            .unwrap_or_else(|| unreachable!("session taken before drop"))
    }
}

impl Drop for PooledSession {
    fn drop(&mut self) {
        if let Some(mut session) = self.session.take() {
            session.reset();
            self.pool
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(session);
        }
    }
}
