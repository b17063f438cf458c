//! Upload completes of one video take turns, so that a second one sees the first's result
//! instead of racing it in S3 (where it could find the object mid-write and delete it as too
//! short). Waiting for a turn must not hold a connection of the pool every request uses:
//! 45 completes of one video once held all of them, each blocked in `pg_advisory_xact_lock`,
//! and unrelated requests stalled. So the turn is taken in two steps:
//!
//! 1. an in-process async mutex per video: the waiters of this process queue in memory;
//! 2. only the head of that queue takes the cross-process turn, a session-level advisory lock
//!    in Postgres (other API processes), on a connection of a small pool of its own
//!    (`COMPLETE_LOCK_CONNECTIONS`); the complete's few statements run on that connection
//!    too, without a transaction held over the S3 calls.
//!
//! A turn ended by [`Turn::end`] unlocks and returns its connection. One dropped mid-way (the
//! client went away) cannot know whether Postgres granted the lock, so its connection is
//! closed instead of returned: the session ends and Postgres releases the lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgConnection, PgPool, Postgres};
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;
use vodnest_core::config::DatabaseConfig;

/// How long a complete at the head of its video's queue waits for a connection of the turn
/// pool (held, each, for one S3 complete of another video) before it is answered 503.
const TURN_POOL_WAIT: Duration = Duration::from_secs(30);

type VideoMutex = Arc<tokio::sync::Mutex<()>>;

#[derive(Debug, Clone)]
pub struct CompleteTurns {
    waiting: Arc<Mutex<HashMap<Uuid, VideoMutex>>>,
    pool: PgPool,
}

/// A video's turn: the in-process mutex and the advisory lock on its own connection.
#[derive(Debug)]
pub struct Turn {
    video: Uuid,
    connection: Option<PoolConnection<Postgres>>,
    local: Option<OwnedMutexGuard<()>>,
    mutex: VideoMutex,
    waiting: Arc<Mutex<HashMap<Uuid, VideoMutex>>>,
}

impl CompleteTurns {
    /// The turn pool connects lazily: an API that is never asked to complete opens none.
    pub fn new(database: &DatabaseConfig, connections: u32) -> Result<Self, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(TURN_POOL_WAIT)
            .connect_lazy(&database.database_url)?;
        Ok(Self {
            waiting: Arc::default(),
            pool,
        })
    }

    /// Waits for `video`'s turn.
    pub async fn take(&self, video: Uuid) -> Result<Turn, sqlx::Error> {
        let mutex = Arc::clone(
            self.waiting
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(video)
                .or_default(),
        );
        let mut turn = Turn {
            video,
            connection: None,
            local: None,
            mutex,
            waiting: Arc::clone(&self.waiting),
        };
        turn.local = Some(Arc::clone(&turn.mutex).lock_owned().await);
        turn.connection = Some(self.pool.acquire().await?);
        sqlx::query!(
            "select pg_advisory_lock(hashtextextended($1::uuid::text, 0))",
            video
        )
        .execute(turn.db())
        .await?;
        Ok(turn)
    }
}

impl Turn {
    /// The turn's connection, for the complete's statements.
    pub fn db(&mut self) -> &mut PgConnection {
        match self.connection.as_mut() {
            Some(connection) => connection,
            // `take` sets it before handing the turn out, and only `end` and drop take it.
            None => unreachable!("a turn has its connection until it ends"),
        }
    }

    /// Unlocks and gives the connection back to the turn pool.
    pub async fn end(mut self) -> Result<(), sqlx::Error> {
        let video = self.video;
        let unlocked = sqlx::query_scalar!(
            "select pg_advisory_unlock(hashtextextended($1::uuid::text, 0))",
            video
        )
        .fetch_one(self.db())
        .await?;
        if unlocked == Some(true) {
            // Unlocked: the connection may go back to the pool.
            drop(self.connection.take());
        } else {
            // Cannot happen while the session lives; dropping closes the session, to be sure.
            tracing::error!(video_id = %video, "a complete's turn was not held at its end");
        }
        Ok(())
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            // Not unlocked (cancelled, or the unlock failed): end the session instead.
            drop(connection.detach());
        }
        drop(self.local.take());
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        // The map's entry and this turn are the last holders: no one else waits for it.
        if Arc::strong_count(&self.mutex) == 2 {
            waiting.remove(&self.video);
        }
    }
}
