//! The API's background tasks (the notification hub's LISTEN loop, the upload sweeper). Each
//! runs until told to stop and recovers from its own passing failures (a lost connection, an
//! S3 error in one sweep); one that ends anyway, by a panic or a return, is a bug that would
//! otherwise go unnoticed until the next SIGTERM, so the API stops with an error and the
//! service manager restarts the process.

use std::collections::HashMap;

use anyhow::anyhow;
use tokio::task::{Id, JoinSet};
use tokio_util::sync::CancellationToken;

/// Tasks that should run until [`BackgroundTasks::stop`]. Dropping the set aborts them.
pub struct BackgroundTasks {
    tasks: JoinSet<()>,
    names: HashMap<Id, &'static str>,
    stop: CancellationToken,
}

impl BackgroundTasks {
    pub fn new() -> Self {
        Self {
            tasks: JoinSet::new(),
            names: HashMap::new(),
            stop: CancellationToken::new(),
        }
    }

    /// The token that tells the tasks to stop; a task is given a clone when it is spawned.
    pub fn stop_token(&self) -> &CancellationToken {
        &self.stop
    }

    /// Spawns `task`, named `name` in the error its early end causes.
    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let id = self.tasks.spawn(task).id();
        self.names.insert(id, name);
    }

    /// Resolves when the first task ends (each should run until stopped), with what ended it;
    /// never resolves while every task runs, nor when there are none.
    pub async fn first_ended(&mut self) -> anyhow::Error {
        let Some(ended) = self.tasks.join_next_with_id().await else {
            return std::future::pending().await;
        };
        let (id, how) = match ended {
            Ok((id, ())) => (id, anyhow!("it returned")),
            // A panic's message says where it happened.
            Err(err) => (err.id(), anyhow!(err)),
        };
        let name = self.names.get(&id).copied().unwrap_or("a background task");
        how.context(format!("{name} stopped before the API"))
    }

    /// Tells every task to stop and waits for them.
    pub async fn stop(mut self) {
        self.stop.cancel();
        while let Some(ended) = self.tasks.join_next_with_id().await {
            if let Err(err) = ended {
                let name = self
                    .names
                    .get(&err.id())
                    .copied()
                    .unwrap_or("a background task");
                tracing::error!(task = name, error = %err, "background task failed while stopping");
            }
        }
    }
}

impl Default for BackgroundTasks {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn run_until(stop: CancellationToken) {
        stop.cancelled().await;
    }

    #[tokio::test]
    async fn a_task_that_ends_early_is_named() {
        let mut tasks = BackgroundTasks::new();
        tasks.spawn("the steady one", run_until(tasks.stop_token().clone()));
        tasks.spawn("the short one", async {});
        let err = tasks.first_ended().await;
        assert_eq!(
            format!("{err:#}"),
            "the short one stopped before the API: it returned"
        );
        tokio::time::timeout(Duration::from_secs(5), tasks.stop())
            .await
            .expect("the steady task stops when told");
    }

    #[tokio::test]
    async fn a_panic_is_reported_as_one() {
        let mut tasks = BackgroundTasks::new();
        tasks.spawn("the sweeper", async { panic!("boom") });
        let err = format!("{:#}", tasks.first_ended().await);
        assert!(
            err.starts_with("the sweeper stopped before the API: ") && err.contains("boom"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn tasks_that_run_until_stopped_end_nothing() {
        let mut tasks = BackgroundTasks::new();
        tasks.spawn("the hub", run_until(tasks.stop_token().clone()));
        let early = tokio::time::timeout(Duration::from_millis(50), tasks.first_ended()).await;
        assert!(early.is_err(), "nothing ended: {early:?}");
        tokio::time::timeout(Duration::from_secs(5), tasks.stop())
            .await
            .expect("stops when told");
    }
}
