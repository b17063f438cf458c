//! Group commit of job successes: the successes a processor's slots report while one such
//! statement is in flight are recorded together by the next one ([`queue::succeed_all`]).
//!
//! A job's success is a durable commit, and a Postgres commit that NOTIFYs (the video's status
//! does) takes a lock held until its WAL is on disk: such commits queue one behind the other,
//! so the commit rate, not the work, caps how many short jobs a machine completes per second
//! (`benches/commit_ceiling.sh`). One commit for many successes lifts that cap. Nothing waits
//! for a batch to fill: a lone success goes at once, as it did without batching.

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use crate::queue::{self, ClaimedJob, Claimer, JobKind, QueueError, Succeeded, Success};
use crate::videos::MediaFacts;

/// Successes recorded by one statement at most; a longer statement would hold its row locks
/// longer than the commit it saves is worth.
const MAX_BATCH: usize = 64;

/// One processor's channel to its group-commit task (cheap to clone). The task ends when the
/// last clone is dropped.
#[derive(Clone)]
pub struct GroupCommit {
    requests: mpsc::UnboundedSender<Request>,
}

struct Request {
    job: ClaimedJob,
    facts: MediaFacts,
    follow_up: Option<JobKind>,
    claimer: Option<Claimer>,
    reply: oneshot::Sender<Result<Succeeded, QueueError>>,
}

impl Request {
    /// Requests that claim as different workers cannot share a statement.
    fn fits(&self, claimer: Option<&Claimer>) -> bool {
        match (&self.claimer, claimer) {
            (Some(mine), Some(theirs)) => {
                mine.worker_id == theirs.worker_id && mine.lease == theirs.lease
            }
            _ => true,
        }
    }
}

impl GroupCommit {
    /// Starts the task that records successes against `pool` (needs a Tokio runtime).
    pub fn start(pool: PgPool) -> Self {
        let (requests, incoming) = mpsc::unbounded_channel();
        tokio::spawn(record_batches(pool, incoming));
        Self { requests }
    }

    /// [`queue::succeed_and_claim`], in the next group commit.
    pub async fn succeed_and_claim(
        &self,
        job: &ClaimedJob,
        facts: &MediaFacts,
        follow_up: Option<JobKind>,
        claimer: Option<&Claimer>,
    ) -> Result<Succeeded, QueueError> {
        let (reply, outcome) = oneshot::channel();
        let request = Request {
            job: job.clone(),
            facts: facts.clone(),
            follow_up,
            claimer: claimer.cloned(),
            reply,
        };
        self.requests
            .send(request)
            .map_err(|_| QueueError::GroupCommitGone)?;
        outcome.await.map_err(|_| QueueError::GroupCommitGone)?
    }
}

async fn record_batches(pool: PgPool, mut incoming: mpsc::UnboundedReceiver<Request>) {
    // A request that claims as another worker ends a batch and starts the next one.
    let mut carried: Option<Request> = None;
    loop {
        let first = match carried.take() {
            Some(request) => request,
            None => match incoming.recv().await {
                Some(request) => request,
                None => return,
            },
        };
        let mut claimer = first.claimer.clone();
        let mut batch = vec![first];
        // The slots answered by the last statement are about to report again: let them run
        // first, so that they share this statement rather than wait for the next.
        tokio::task::yield_now().await;
        while batch.len() < MAX_BATCH {
            let Ok(request) = incoming.try_recv() else {
                break;
            };
            if !request.fits(claimer.as_ref()) {
                carried = Some(request);
                break;
            }
            if claimer.is_none() {
                claimer = request.claimer.clone();
            }
            batch.push(request);
        }
        record(&pool, batch, claimer.as_ref()).await;
    }
}

async fn record(pool: &PgPool, batch: Vec<Request>, claimer: Option<&Claimer>) {
    let successes: Vec<Success<'_>> = batch
        .iter()
        .map(|r| Success {
            job: &r.job,
            facts: &r.facts,
            follow_up: r.follow_up,
            claim_next: r.claimer.is_some(),
        })
        .collect();
    match queue::succeed_all(pool, &successes, claimer).await {
        Ok(outcomes) => {
            for (request, outcome) in batch.into_iter().zip(outcomes) {
                // The job that asked may be gone (its slot was aborted); its claim then lapses
                // with the lease, like a crashed worker's.
                let _ = request.reply.send(Ok(outcome));
            }
        }
        Err(err) => {
            let err = Arc::new(err);
            for request in batch {
                let _ = request.reply.send(Err(QueueError::Shared(err.clone())));
            }
        }
    }
}
