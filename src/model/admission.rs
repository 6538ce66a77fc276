//! Stream admission: how many streams may recognise at once.
//!
//! Each stream holds one [`BatchedSession`] (its recurrent state) for its whole life; the
//! model itself runs in the shared [`BatchScheduler`], so a session costs a few kilobytes
//! and the cap is about latency and fairness, not memory. A caller waits at most the acquire
//! timeout for a free slot and then gets [`AsrError::PoolExhausted`], which the server turns
//! into a retryable status instead of queueing without bound. The slot comes back when the
//! session is dropped, so a stream aborted anywhere (client gone, error, panic unwinding)
//! never leaks one, and its state goes with it.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::AsrError;
use crate::model::scheduler::{BatchScheduler, BatchedSession};

/// At most `capacity` sessions checked out at once.
#[derive(Debug)]
pub struct Admission {
    scheduler: Arc<BatchScheduler>,
    permits: Arc<Semaphore>,
    capacity: usize,
}

impl Admission {
    /// A pool of `capacity` sessions running on `scheduler`.
    pub fn new(scheduler: Arc<BatchScheduler>, capacity: usize) -> Result<Admission, AsrError> {
        if capacity == 0 {
            return Err(AsrError::InvalidConfig(
                "the session pool needs at least 1 session".into(),
            ));
        }
        crate::metrics::pool(0, capacity);
        Ok(Admission {
            scheduler,
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
        })
    }

    /// Checks out a session (zero state), waiting at most `timeout` for a free slot.
    pub async fn acquire(&self, timeout: Duration) -> Result<AdmittedSession, AsrError> {
        let permit = tokio::time::timeout(timeout, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| AsrError::PoolExhausted { waited: timeout })?
            .map_err(|_| AsrError::Internal("session pool closed".into()))?;
        let session = AdmittedSession {
            session: self.scheduler.session(),
            permit: Some(permit),
            permits: Arc::clone(&self.permits),
            capacity: self.capacity,
        };
        crate::metrics::pool(self.in_use(), self.capacity);
        Ok(session)
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

/// A checked-out session; dropping it frees its slot.
#[derive(Debug)]
pub struct AdmittedSession {
    session: BatchedSession,
    /// Released in `drop`, after which the pool gauge is updated.
    permit: Option<OwnedSemaphorePermit>,
    permits: Arc<Semaphore>,
    capacity: usize,
}

impl Deref for AdmittedSession {
    type Target = BatchedSession;

    fn deref(&self) -> &BatchedSession {
        &self.session
    }
}

impl DerefMut for AdmittedSession {
    fn deref_mut(&mut self) -> &mut BatchedSession {
        &mut self.session
    }
}

impl Drop for AdmittedSession {
    fn drop(&mut self) {
        drop(self.permit.take());
        let in_use = self.capacity - self.permits.available_permits();
        crate::metrics::pool(in_use, self.capacity);
    }
}
